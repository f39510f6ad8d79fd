"""Machine endpoints: the DICOM store's doorbell and the health probe."""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from fastapi import APIRouter, Request

from sharedcenter.api.deps import ServicesDep
from sharedcenter.config import Settings
from sharedcenter.errors import AuthenticationFailed

__all__ = ["notify_token", "router"]

router = APIRouter(tags=["internal"])


def notify_token(settings: Settings) -> str:
    """The shared secret Orthanc's doorbell script sends (derived from the secret key)."""
    return hmac.new(settings.secret_key.encode(), b"dicom-store-notify", hashlib.sha256).hexdigest()[:40]


@router.post("/api/internal/dicom-store/changed", status_code=202)
def dicom_store_changed(request: Request, services: ServicesDep) -> dict[str, Any]:
    """Orthanc says a study became stable: wake the sync loop (the feed itself is the truth)."""
    sent = request.headers.get("authorization", "").removeprefix("Bearer ").strip()
    if not hmac.compare_digest(sent, notify_token(services.settings)):
        raise AuthenticationFailed("wrong doorbell token")
    request.app.state.sync_wakeup.set()
    return {"queued": True}


@router.get("/healthz")
def healthz(services: ServicesDep) -> dict[str, Any]:
    from sqlalchemy import text

    with services.db.session() as session:
        session.execute(text("SELECT 1"))
    return {"status": "ok", "dicom_store": services.dicom_store.name, "object_store": services.object_store.name}
