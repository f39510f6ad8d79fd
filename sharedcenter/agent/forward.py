"""The forwarder: sends spooled instances to the county by STOW-RS (``POST /dicomweb/studies``) with
the site's bearer token, deletes a spool file only once the county's 2xx answer lists its SOP
Instance UID, backs off exponentially (with jitter, up to a cap) while the link is down, and sets
aside in ``failed/`` an instance the county refuses with a 4xx.

Completeness: the county's STOW takes ``?complete=false`` to leave a study open, and a request
without it declares the study complete (the pre-read starts at once, with no StableAge wait).  The
forwarder therefore sends a study's instances with ``complete=false`` while the study is still
arriving, holding back its most recent instance, and sends that last one with ``complete=true``
once the study has been quiet for ``quiet_s``.

A crash between the county's answer and the journal's ``sent`` mark resends the batch on restart;
the county stores by SOP Instance UID (Orthanc answers ``AlreadyStored`` and sharedcenter counts only
new instances), so nothing is duplicated.
"""

from __future__ import annotations

import dataclasses
import logging
import random
import threading
import time
from typing import Any

import httpx

from sharedcenter.agent.journal import QueuedInstance
from sharedcenter.agent.spool import Spool
from sharedcenter.dicomweb import build_multipart_related
from sharedcenter.errors import SharedCenterError, StorageUnavailable

__all__ = ["ForwardPolicy", "Forwarder", "LinkDown"]

log = logging.getLogger(__name__)

#: answers that mean "this instance is bad": set it aside rather than retry it
_REFUSALS = frozenset({400, 409, 413, 415, 422})
_REFERENCED_SOP_SEQUENCE, _FAILED_SOP_SEQUENCE, _REFERENCED_SOP_UID = "00081199", "00081198", "00081155"


class LinkDown(StorageUnavailable):
    """The county cannot be reached or cannot take instances now; retry later, nothing is lost."""


class _Refused(SharedCenterError):
    """The county refused a batch with a 4xx naming the input."""


@dataclasses.dataclass(frozen=True, slots=True)
class ForwardPolicy:
    """Knobs of the forwarder.

    Parameters
    ----------
    quiet_s
        A study whose last instance arrived this long ago is declared complete.
    batch_max, batch_bytes
        At most this many instances, and about this many bytes, per STOW request (one study each).
    backoff_base_s, backoff_cap_s
        The first wait after a failed attempt, doubled each time up to the cap; each wait is drawn
        uniformly between half and all of it (jitter).
    timeout_s
        HTTP timeout of one request.
    idle_s
        How often an idle forwarder looks at the journal.
    """

    quiet_s: float = 5.0
    batch_max: int = 16
    batch_bytes: int = 64 * 1024 * 1024
    backoff_base_s: float = 1.0
    backoff_cap_s: float = 60.0
    timeout_s: float = 120.0
    idle_s: float = 0.2

    def __post_init__(self) -> None:
        for name in ("quiet_s", "backoff_base_s", "backoff_cap_s", "timeout_s", "idle_s"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be zero or more, got {getattr(self, name)}")
        if self.batch_max < 1 or self.batch_bytes < 1:
            raise ValueError("batch_max and batch_bytes must be at least 1")

    def backoff(self, failures: int) -> float:
        """The wait before the next attempt after ``failures`` failures in a row (jittered)."""
        ceiling = min(self.backoff_cap_s, self.backoff_base_s * 2 ** min(failures - 1, 30))
        return random.uniform(ceiling / 2, ceiling)


@dataclasses.dataclass(frozen=True, slots=True)
class _Batch:
    items: list[QueuedInstance]
    complete: bool


class Forwarder:
    """Moves the spool's queued instances to the county; :meth:`run` loops until ``stop`` is set."""

    def __init__(self, spool: Spool, county_url: str, token: str, *, site: str | None = None,
                 policy: ForwardPolicy | None = None) -> None:
        self.spool = spool
        self.policy = policy or ForwardPolicy()
        self.site = site
        self.http = httpx.Client(base_url=county_url.rstrip("/"), timeout=self.policy.timeout_s,
                                 headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self.http.close()

    def run(self, stop: threading.Event) -> None:
        failures = 0
        while not stop.is_set():
            try:
                busy = self.step()
            except LinkDown as exc:
                failures += 1
                wait = self.policy.backoff(failures)
                log.warning("county not reachable (%s); attempt %d, next in %.1f s", exc, failures, wait)
                self.spool.journal.note_error(str(exc))
                stop.wait(wait)
                continue
            failures = 0
            if not busy:
                stop.wait(self.policy.idle_s)

    def next_batch(self, now: float | None = None) -> _Batch | None:
        """The next request to make: the oldest study with something ready to send."""
        now = time.time() if now is None else now
        studies: dict[str, list[QueuedInstance]] = {}
        for item in self.spool.journal.queued():
            studies.setdefault(item.study_uid, []).append(item)
        for study_uid, items in studies.items():
            quiet = now - self.spool.journal.last_received(study_uid) >= self.policy.quiet_s
            ready = items if quiet else items[:-1]  # hold the latest back to declare the study with it
            batch: list[QueuedInstance] = []
            for item in ready[:self.policy.batch_max]:
                if batch and sum(i.size for i in batch) + item.size > self.policy.batch_bytes:
                    break
                batch.append(item)
            if batch:
                return _Batch(batch, complete=quiet and len(batch) == len(items))
        return None

    def step(self) -> bool:
        """Send one batch; False when nothing is ready.

        Raises
        ------
        LinkDown
            The county did not take the batch; it stays queued.
        """
        batch = self.next_batch()
        if batch is None:
            return False
        if len(batch.items) == 1:
            self._send_one_or_fail(batch.items[0], batch.complete)
            return True
        try:
            self._send(batch.items, batch.complete)
        except _Refused:
            for n, item in enumerate(batch.items, start=1):  # find the bad one(s); the rest go through
                self._send_one_or_fail(item, batch.complete and n == len(batch.items))
        return True

    def _send_one_or_fail(self, item: QueuedInstance, complete: bool) -> None:
        try:
            self._send([item], complete)
        except _Refused as exc:
            log.error("county refused %s: %s", item.sop_uid, exc)
            self.spool.fail(item.sop_uid, item.file, str(exc))

    def _read(self, items: list[QueuedInstance]) -> list[tuple[QueuedInstance, bytes]]:
        out = []
        for item in items:
            try:
                out.append((item, (self.spool.root / item.file).read_bytes()))
            except FileNotFoundError:
                self.spool.journal.mark_failed(item.sop_uid, item.file, "spool file missing")
        return out

    def _send(self, items: list[QueuedInstance], complete: bool) -> None:
        loaded = self._read(items)
        if not loaded:
            return
        body, content_type = build_multipart_related([data for _, data in loaded])
        params = {"complete": "true" if complete else "false"}
        if self.site:
            params["site"] = self.site
        try:
            response = self.http.post("/dicomweb/studies", content=body, params=params,
                                      headers={"Content-Type": content_type, "Accept": "application/dicom+json"})
        except httpx.TransportError as exc:
            raise LinkDown(f"cannot reach {self.http.base_url}: {exc}") from exc
        if response.status_code in _REFUSALS:
            raise _Refused(f"HTTP {response.status_code}: {_detail(response)}")
        if not response.is_success:
            raise LinkDown(f"HTTP {response.status_code} from the county: {_detail(response)}")
        self._acknowledge([item for item, _ in loaded], response.json())

    def _acknowledge(self, items: list[QueuedInstance], answer: dict[str, Any]) -> None:
        acked = _sop_uids(answer, _REFERENCED_SOP_SEQUENCE)
        refused = _sop_uids(answer, _FAILED_SOP_SEQUENCE)
        done = [item for item in items if item.sop_uid in acked]
        self.spool.journal.mark_sent([item.sop_uid for item in done])
        self.spool.delete_sent([item.file for item in done])
        for item in items:
            if item.sop_uid in refused:
                self.spool.fail(item.sop_uid, item.file, "the county listed it in FailedSOPSequence")
        missing = [i.sop_uid for i in items if i.sop_uid not in acked and i.sop_uid not in refused]
        if missing:
            raise LinkDown(f"the county's answer does not acknowledge {len(missing)} instance(s), e.g. {missing[0]}")
        log.info("forwarded %d instance(s)", len(done))


def _detail(response: httpx.Response) -> str:
    try:
        detail = response.json().get("detail", response.text)
    except ValueError:
        detail = response.text
    return str(detail)[:500]


def _sop_uids(answer: dict[str, Any], sequence: str) -> set[str]:
    items = answer.get(sequence, {}).get("Value", []) if isinstance(answer, dict) else []
    return {str(item.get(_REFERENCED_SOP_UID, {}).get("Value", [""])[0]) for item in items}
