"""The FastAPI application factory, its middleware and its background catch-up loop."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import threading
import uuid
from collections.abc import AsyncIterator

from fastapi import FastAPI
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from sharedcenter import __version__
from sharedcenter.api._errors import install_error_handlers
from sharedcenter.api.routes import (
    auth,
    clinic,
    dicomweb,
    ecg,
    fhir,
    internal,
    orders,
    qc,
    recognition,
    reports,
    station,
    studies,
    verify,
    viewer,
    webhooks,
)
from sharedcenter.audit import correlation_id
from sharedcenter.errors import SharedCenterError
from sharedcenter.services import Services
from sharedcenter.studies import (
    awaiting_counts,
    complete_counted_studies,
    complete_settled_studies,
    queue_stale_studies,
    sync_dicom_store,
)
from sharedcenter.web import router as web_router

__all__ = ["create_app"]

logger = logging.getLogger(__name__)


class _Limits:
    """Pure ASGI middleware: a request body over the limit gets 413 before it is read; every request
    gets a correlation id (``X-Request-ID``) that runs on into the tasks it queues."""

    def __init__(self, app: ASGIApp, max_body: int) -> None:
        self.app, self.max_body = app, max_body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope["headers"])
        rid = headers.get(b"x-request-id", b"").decode()[:64] or uuid.uuid4().hex
        token = correlation_id.set(rid)
        try:
            if int(headers.get(b"content-length", b"0") or 0) > self.max_body:
                await _send_413(send, self.max_body)
                return

            async def send_with_id(message: Message) -> None:
                if message["type"] == "http.response.start":
                    message.setdefault("headers", []).append((b"x-request-id", rid.encode()))
                await send(message)

            await self.app(scope, receive, send_with_id)
        finally:
            correlation_id.reset(token)


async def _send_413(send: Send, limit: int) -> None:
    detail = f"request body is larger than the limit of {limit} bytes"
    body = json.dumps({"error": "UploadTooLarge", "detail": detail}).encode()
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json")]})
    await send({"type": "http.response.body", "body": body})


def _catch_up_loop(services: Services, wakeup: threading.Event, stop: threading.Event) -> None:
    """Read the DICOM store's change feed on every doorbell and at least every interval; queue
    again studies whose pre-read message was lost."""
    interval = services.settings.orthanc_sync_interval_s
    while not stop.is_set():
        wakeup.clear()
        wait = interval
        try:
            sync_dicom_store(services)
            complete_counted_studies(services)
            if awaiting_counts(services):
                wait = min(interval, services.settings.orthanc_count_poll_s)
            age = services.settings.orthanc_stable_age_s
            complete_settled_studies(services, dt.timedelta(seconds=age + max(5.0, age / 2)))
            with services.db.session() as session:
                queue_stale_studies(session, services.queue, dt.timedelta(minutes=5))
        except SharedCenterError as exc:
            logger.warning("catch-up with the DICOM store failed, will retry: %s", exc)
        except Exception:
            logger.exception("catch-up loop error; will retry")
        wakeup.wait(wait)


def create_app(services: Services, *, background: bool = True) -> FastAPI:
    """Build the API on wired services; ``background`` runs the DICOM store catch-up loop."""

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        thread = None
        if background:
            thread = threading.Thread(target=_catch_up_loop, args=(services, app.state.sync_wakeup, stop),
                                      name="dicom-store-sync", daemon=True)
            thread.start()
        yield
        stop.set()
        app.state.sync_wakeup.set()
        if thread is not None:
            thread.join(timeout=10)

    app = FastAPI(title="sharedcenter", version=__version__, lifespan=lifespan)
    app.state.services = services
    app.state.sync_wakeup = threading.Event()
    install_error_handlers(app)
    for router in (auth.router, studies.router, ecg.router, reports.router, verify.router, recognition.router,
                   fhir.router, qc.router, webhooks.router, station.router, viewer.router, clinic.router,
                   internal.router, dicomweb.router, orders.router, web_router):
        app.include_router(router)
    app.add_middleware(_Limits, max_body=services.settings.max_upload_bytes + 1024 * 1024)
    return app


