"""Sending the planned batches to ``POST /api/uploads``, with retries, the journal and a summary.

Studies go one after another (each study's batches in order, the last one declaring it complete).
Connection errors and HTTP 5xx are retried with exponential backoff; a 4xx is the server's verdict and
is not retried: the study it concerns is reported failed with the server's message (for 401/403/404
the whole upload stops, as every other batch would get the same answer).  When the retries run out the
upload stops with :class:`~sharedcenter.errors.StorageUnavailable`; the journal keeps what was
acknowledged, so running the same command again sends only the rest.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator
from typing import Any

import httpx

from sharedcenter.errors import (
    AuthenticationFailed,
    Conflict,
    InvalidInput,
    NotFound,
    PermissionDenied,
    SharedCenterError,
    StorageUnavailable,
    UploadTooLarge,
)
from sharedcenter.upload._inputs import Skipped
from sharedcenter.upload._journal import Journal
from sharedcenter.upload._plan import Batch

__all__ = ["RetryPolicy", "Summary", "send_batches"]

logger = logging.getLogger(__name__)

_REFUSALS: dict[int, type[SharedCenterError]] = {
    401: AuthenticationFailed, 403: PermissionDenied, 404: NotFound, 409: Conflict, 413: UploadTooLarge,
}
#: Refusals that every other batch would get too: stop the upload.
_FATAL = (AuthenticationFailed, PermissionDenied, NotFound)
#: what the summary keeps of each study the server answered (``duplicate``: its last batch added nothing new)
_STUDY_FIELDS = ("id", "kind", "modality", "state", "study_instance_uid", "instance_count", "complete",
                 "duplicate")


@dataclasses.dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``attempts`` tries per batch, waiting ``first_wait`` seconds, then ``factor`` times longer, at most
    ``max_wait``."""

    attempts: int = 6
    first_wait: float = 0.5
    factor: float = 2.0
    max_wait: float = 30.0

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.first_wait < 0 or self.factor < 1:
            raise ValueError(f"retry policy needs attempts >= 1, first_wait >= 0 and factor >= 1, got {self}")

    def waits(self) -> Iterator[float]:
        wait = self.first_wait
        for _ in range(self.attempts - 1):
            yield min(wait, self.max_wait)
            wait *= self.factor


@dataclasses.dataclass(slots=True)
class Summary:
    """What an upload did; ``to_json`` is the ``--json`` line."""

    studies: dict[int, dict[str, Any]] = dataclasses.field(default_factory=dict)
    instances_sent: int = 0
    instances_resumed: int = 0
    instances_failed: int = 0
    #: instances not sent because the upload stopped before them (a re-run sends them)
    instances_pending: int = 0
    batches_sent: int = 0
    batches_skipped: int = 0
    bytes: int = 0
    seconds: float = 0.0
    skipped: list[Skipped] = dataclasses.field(default_factory=list)
    errors: list[str] = dataclasses.field(default_factory=list)
    #: the error that stopped the upload before its end (the rest can be resumed)
    stopped: SharedCenterError | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "studies": list(self.studies.values()),
            "instances_sent": self.instances_sent, "instances_skipped": len(self.skipped),
            "instances_resumed": self.instances_resumed, "instances_failed": self.instances_failed,
            "instances_pending": self.instances_pending,
            "batches_sent": self.batches_sent, "batches_skipped": self.batches_skipped,
            "bytes": self.bytes, "seconds": round(self.seconds, 3),
            "skipped": [{"file": s.origin, "reason": s.reason} for s in self.skipped],
            "errors": self.errors, "complete": self.stopped is None and not self.errors,
        }


def _detail(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:500]
    return str(body.get("detail", body)) if isinstance(body, dict) else str(body)


def _post(http: httpx.Client, batch: Batch, site: str | None, retry: RetryPolicy,
          notify: Callable[[str], None]) -> list[dict[str, Any]]:
    try:
        files = [("files", (item.name, item.read(), "application/octet-stream")) for item in batch.items]
    except OSError as exc:
        raise InvalidInput(f"cannot read a file of batch {batch.index + 1}: {exc}") from exc
    data = {"complete": "true" if batch.complete else "false", **({"site": site} if site else {})}
    waits = retry.waits()
    while True:
        try:
            response = http.post("/api/uploads", files=files, data=data)
            problem = f"HTTP {response.status_code}: {_detail(response)}" if response.status_code >= 500 else ""
        except httpx.TransportError as exc:
            response, problem = None, f"cannot reach {http.base_url}: {exc or type(exc).__name__}"
        if response is not None and not problem:
            break
        wait = next(waits, None)
        if wait is None:
            raise StorageUnavailable(f"{problem} (gave up after {retry.attempts} tries)")
        notify(f"batch {batch.index + 1}: {problem}; retrying in {wait:.1f} s")
        time.sleep(wait)
    if response.status_code >= 400:
        error = _REFUSALS.get(response.status_code, InvalidInput)
        raise error(f"HTTP {response.status_code}: {_detail(response)}")
    studies: list[dict[str, Any]] = response.json()["studies"]
    return studies


def send_batches(http: httpx.Client, batches: list[Batch], site: str | None, journal: Journal, *,
                 retry: RetryPolicy | None = None, progress: Callable[[int], None] | None = None,
                 notify: Callable[[str], None] | None = None) -> Summary:
    """Send every batch not yet acknowledged in ``journal``, study after study.

    Returns
    -------
    Summary
        With ``errors`` naming each study the server refused (the others were sent), and ``stopped`` set
        when the upload could not go on: the server stayed unreachable or kept failing (5xx) through the
        retries (:class:`~sharedcenter.errors.StorageUnavailable`; the journal holds what was
        acknowledged), or a refusal that holds for every batch (401, 403, 404).

    ``progress`` is called with each batch's bytes once it is done (sent or skipped); ``notify`` with
    each retry's reason (the log, by default).
    """
    retry, notify = retry or RetryPolicy(), notify or logger.warning
    summary, failed_groups = Summary(), set()
    started = time.monotonic()
    for n, batch in enumerate(batches):
        if set(batch.keys) <= journal.acked:
            summary.batches_skipped += 1
            summary.instances_resumed += len(batch.items)
        elif batch.group in failed_groups:
            summary.instances_failed += len(batch.items)
        else:
            try:
                studies = [{k: s.get(k) for k in _STUDY_FIELDS} for s in _post(http, batch, site, retry, notify)]
            except (StorageUnavailable, *_FATAL) as exc:
                summary.stopped = exc
                summary.errors.append(str(exc))
                summary.instances_pending = sum(len(b.items) for b in batches[n:])
                break
            except (InvalidInput, Conflict) as exc:
                failed_groups.add(batch.group)
                summary.instances_failed += len(batch.items)
                summary.errors.append(f"{batch.items[0].origin} and the rest of its study: {exc}")
                continue
            journal.record(batch.keys, studies)
            summary.batches_sent += 1
            summary.instances_sent += len(batch.items)
            summary.bytes += batch.size
        if progress:
            progress(batch.size)
    summary.studies = dict(journal.studies)
    summary.seconds = time.monotonic() - started
    return summary
