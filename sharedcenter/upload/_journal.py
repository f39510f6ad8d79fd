"""The resume journal: which batches of an upload the server has acknowledged.

One JSON-lines file per input set under ``$XDG_STATE_HOME/sharedcenter/uploads/`` (default
``~/.local/state``), named by a hash of the server URL, the site and the resolved input paths.  Each
acknowledged batch appends one line (its keys: SOP Instance UIDs, or an ECG record's identity, and the
studies the server answered) and is fsync'ed before the next batch goes, so a killed client loses at
most the batch in flight, which the server takes again harmlessly.  A torn last line is ignored.  The
file is created at the first acknowledgement and removed when the whole upload has gone through.
A lock (``flock``) keeps two runs of the same upload apart; within one run, a mutex lets the upload's
worker threads record batches concurrently, one line at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import threading
from collections.abc import Iterable
from pathlib import Path
from typing import IO, Any

from sharedcenter.errors import Conflict

__all__ = ["Journal", "journal_dir"]

logger = logging.getLogger(__name__)


def journal_dir() -> Path:
    """``$XDG_STATE_HOME/sharedcenter/uploads`` (``~/.local/state`` when the variable is unset)."""
    base = os.environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "sharedcenter" / "uploads"


class Journal:
    """Acknowledged batches of one upload (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.acked: set[str] = set()
        self.studies: dict[int, dict[str, Any]] = {}
        self._fh: IO[str] | None = None
        self._lock: IO[str] | None = None
        self._mutex = threading.Lock()
        self._closed = False

    @classmethod
    def for_upload(cls, url: str, site: str | None, paths: Iterable[Path], folder: Path | None = None) -> Journal:
        """The journal of this input set sent to this server for this site."""
        identity = json.dumps({"url": url.rstrip("/"), "site": site or "",
                               "inputs": sorted(str(p.resolve()) for p in paths)})
        name = hashlib.sha256(identity.encode()).hexdigest()[:32]
        return cls((folder or journal_dir()) / f"{name}.jsonl")

    def __enter__(self) -> Journal:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._closed = False
        self._lock = self.path.with_suffix(".lock").open("a")
        try:
            fcntl.flock(self._lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError as exc:
            self._lock.close()
            raise Conflict(f"another upload of the same inputs is running (journal {self.path})") from exc
        return self

    def __exit__(self, *exc: object) -> None:
        with self._mutex:
            self._closed = True  # a worker thread still running after Ctrl-C records nothing more
            if self._fh is not None:
                self._fh.close()
                self._fh = None
        if self._lock is not None:
            if not self.path.exists():  # nothing to resume: leave no lock file behind either
                self.path.with_suffix(".lock").unlink(missing_ok=True)
            self._lock.close()
            self._lock = None

    def load(self) -> None:
        """Read what an earlier, interrupted run had acknowledged."""
        if not self.path.exists():
            return
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except json.JSONDecodeError:
                logger.warning("journal %s: ignoring a torn line", self.path)
                continue
            self.acked.update(entry.get("keys", []))
            self.studies.update((int(s["id"]), s) for s in entry.get("studies", []))

    def discard(self) -> None:
        """Forget the earlier run (``--no-resume``, or the upload has gone through)."""
        with self._mutex:
            if self._fh is not None:
                self._fh.close()
                self._fh = None
            self.path.unlink(missing_ok=True)
            self.acked.clear()
            self.studies.clear()

    def record(self, keys: list[str], studies: list[dict[str, Any]]) -> None:
        """Note one acknowledged batch, durably, before the next one is sent (thread-safe)."""
        with self._mutex:
            if self._closed:
                logger.debug("journal %s: closed, %d keys not recorded (a re-run sends them)", self.path, len(keys))
                return
            self._append(keys, studies)

    def _append(self, keys: list[str], studies: list[dict[str, Any]]) -> None:
        if self._fh is None:
            torn = self.path.exists() and self.path.stat().st_size and not self.path.read_bytes().endswith(b"\n")
            self._fh = self.path.open("a", encoding="utf-8")
            if torn:  # end the torn line, or the next line would be glued to it and lost too
                self._fh.write("\n")
        self._fh.write(json.dumps({"keys": keys, "studies": studies}, ensure_ascii=False) + "\n")
        self._fh.flush()
        with contextlib.suppress(OSError):  # a file system without fsync still has the flushed line
            os.fsync(self._fh.fileno())
        self.acked.update(keys)
        self.studies.update((int(s["id"]), s) for s in studies)
