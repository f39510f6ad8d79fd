"""Sending the planned batches to ``POST /api/uploads``, with retries, the journal and a summary.

Several studies go at once (``parallel`` worker threads, 2 by default, sharing one ``httpx.Client``);
each study's batches go in order, one after another, on one worker, so only its last batch declares it
complete.  A batch is journalled once the server has acknowledged it.  Connection errors and HTTP 5xx
are retried with exponential backoff; a 4xx is the server's verdict and is not retried: the study it
concerns is reported failed with the server's message and the other studies go on (for 401/403/404 the
whole upload stops, as every other batch would get the same answer).  When the retries run out the
upload stops with :class:`~sharedcenter.errors.StorageUnavailable`; the journal keeps what was
acknowledged, so running the same command again sends only the rest.  A stop starts no new batch:
those in flight finish (and are journalled) or fail.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
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
          notify: Callable[[str], None], stop: threading.Event) -> list[dict[str, Any]]:
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
        if stop.wait(wait):  # another worker stopped the upload: this batch stays pending
            raise _Halted
    if response.status_code >= 400:
        error = _REFUSALS.get(response.status_code, InvalidInput)
        raise error(f"HTTP {response.status_code}: {_detail(response)}")
    studies: list[dict[str, Any]] = response.json()["studies"]
    return studies


class _Halted(Exception):
    """A batch given up because the upload was stopped while it waited to retry."""


#: after Ctrl-C, how long the batches in flight may take to be acknowledged and journalled
_INTERRUPT_GRACE = 2.0


class _Run:
    """One upload's shared state: the studies left to send, the summary, the journal and the stop
    signal; every change goes through ``lock`` (progress and the journal are called under it too)."""

    def __init__(self, http: httpx.Client, site: str | None, journal: Journal, retry: RetryPolicy,
                 progress: Callable[[int], None] | None, notify: Callable[[str], None]) -> None:
        self.http, self.site, self.journal, self.retry, self.notify = http, site, journal, retry, notify
        self.progress = progress or (lambda size: None)
        self.lock, self.stop = threading.Lock(), threading.Event()
        self.summary = Summary()
        self.studies: collections.deque[list[Batch]] = collections.deque()
        #: an unexpected exception in a worker, raised again by ``send_batches``
        self.crash: BaseException | None = None
        self.interrupted = False

    def plan(self, batches: list[Batch]) -> None:
        """Count what the journal already holds; queue the rest, study by study, in plan order."""
        groups: dict[str, list[Batch]] = {}
        for batch in batches:
            if set(batch.keys) <= self.journal.acked:
                self.summary.batches_skipped += 1
                self.summary.instances_resumed += len(batch.items)
                self.progress(batch.size)
            else:
                groups.setdefault(batch.group, []).append(batch)
        self.studies.extend(groups.values())

    def next_study(self) -> list[Batch] | None:
        with self.lock:
            return self.studies.popleft() if self.studies and not self.stop.is_set() else None

    def acknowledged(self, batch: Batch, studies: list[dict[str, Any]]) -> None:
        with self.lock:
            self.journal.record(batch.keys, studies)
            self.summary.batches_sent += 1
            self.summary.instances_sent += len(batch.items)
            self.summary.bytes += batch.size
            self.progress(batch.size)

    def refused(self, rest: list[Batch], exc: SharedCenterError) -> None:
        """The server refused ``rest[0]``: the study's remaining batches are failed, not sent."""
        with self.lock:
            self.summary.instances_failed += sum(len(b.items) for b in rest)
            self.summary.errors.append(f"{rest[0].items[0].origin} and the rest of its study: {exc}")
            for batch in rest:
                self.progress(batch.size)

    def halt(self, rest: list[Batch], exc: BaseException | None = None) -> None:
        """Stop the upload (the first reason is kept); ``rest`` stays pending for a re-run."""
        with self.lock:
            self.summary.instances_pending += sum(len(b.items) for b in rest)
            if isinstance(exc, SharedCenterError) and self.summary.stopped is None and not self.crash:
                self.summary.stopped = exc
                self.summary.errors.append(str(exc))
            elif exc is not None and not isinstance(exc, SharedCenterError) and self.crash is None:
                self.crash = exc
            self.stop.set()


def _send_study(run: _Run, study: list[Batch]) -> None:
    """One study's batches in order; a refusal ends the study, a stop ends the upload."""
    for n, batch in enumerate(study):
        if run.stop.is_set():
            run.halt(study[n:])
            return
        try:
            answered = _post(run.http, batch, run.site, run.retry, run.notify, run.stop)
        except _Halted:
            run.halt(study[n:])
            return
        except (StorageUnavailable, *_FATAL) as exc:
            run.halt(study[n:], exc)
            return
        except (InvalidInput, Conflict) as exc:
            run.refused(study[n:], exc)
            return
        run.acknowledged(batch, [{k: s.get(k) for k in _STUDY_FIELDS} for s in answered])


def _work(run: _Run) -> None:
    """A worker thread: take the next study until none is left or the upload stops."""
    try:
        while (study := run.next_study()) is not None:
            _send_study(run, study)
    except Exception as exc:  # a bug or an unexpected answer: handed to the caller's thread, raised there
        if not run.interrupted:  # after Ctrl-C the caller has gone on (and closed the client)
            run.halt([], exc)


def _run_workers(run: _Run, parallel: int) -> None:
    """``parallel`` daemon threads over the studies; Ctrl-C in the caller stops them promptly: the
    batches in flight get :data:`_INTERRUPT_GRACE` seconds to be acknowledged, then it is raised."""
    workers = [threading.Thread(target=_work, args=(run,), name=f"upload-{n}", daemon=True)
               for n in range(min(parallel, len(run.studies)))]
    for worker in workers:
        worker.start()
    try:
        for worker in workers:
            worker.join()
    except KeyboardInterrupt:
        run.interrupted = True
        run.stop.set()
        deadline = time.monotonic() + _INTERRUPT_GRACE
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        raise


def send_batches(http: httpx.Client, batches: list[Batch], site: str | None, journal: Journal, *,
                 retry: RetryPolicy | None = None, progress: Callable[[int], None] | None = None,
                 notify: Callable[[str], None] | None = None, parallel: int = 2) -> Summary:
    """Send every batch not yet acknowledged in ``journal``, ``parallel`` studies at a time.

    Parameters
    ----------
    parallel
        How many studies go at once (each on its own thread; a study's batches stay in order). 1 sends
        study after study on the calling thread.

    Returns
    -------
    Summary
        With ``errors`` naming each study the server refused (the others were sent), and ``stopped`` set
        when the upload could not go on: the server stayed unreachable or kept failing (5xx) through the
        retries (:class:`~sharedcenter.errors.StorageUnavailable`; the journal holds what was
        acknowledged), or a refusal that holds for every batch (401, 403, 404).

    Raises
    ------
    ValueError
        If ``parallel`` is less than 1.

    ``progress`` is called with each batch's bytes once it is done (sent, skipped or failed), from the
    worker threads but never two at once; ``notify`` with each retry's reason (the log, by default).
    """
    if parallel < 1:
        raise ValueError(f"parallel must be at least 1, got {parallel}")
    run = _Run(http, site, journal, retry or RetryPolicy(), progress, notify or logger.warning)
    started = time.monotonic()
    run.plan(batches)
    if parallel == 1:
        _work(run)
    else:
        _run_workers(run, parallel)
    for study in run.studies:  # never started: the upload stopped first
        run.halt(study)
    if run.crash is not None:
        raise run.crash
    summary = run.summary
    summary.studies = dict(sorted(journal.studies.items()))
    summary.seconds = time.monotonic() - started
    return summary
