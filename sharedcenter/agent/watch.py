"""The folder watch: polls a folder; a file whose size and modification time have not changed for
``stable_s`` is taken into the spool and then removed from the folder; a file that is not DICOM is
moved to the spool's ``rejected/`` with a reason file.

Polling is hand-written (a few lines) rather than inotify/watchdog: it works the same on network
shares and removable media, where change notifications are unreliable.
"""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path

from sharedcenter.agent.spool import Spool
from sharedcenter.errors import InvalidInput

__all__ = ["FolderWatch"]

log = logging.getLogger(__name__)


class FolderWatch:
    """Take finished files from ``folder`` into ``spool``."""

    def __init__(self, spool: Spool, folder: Path, *, stable_s: float = 2.0, interval_s: float = 0.5) -> None:
        if not folder.is_dir():
            raise ValueError(f"watch folder {folder} is not a directory")
        self.spool, self.folder, self.stable_s, self.interval_s = spool, folder, stable_s, interval_s
        self._seen: dict[Path, tuple[int, int, float]] = {}

    def run(self, stop: threading.Event) -> None:
        while not stop.is_set():
            self.scan()
            stop.wait(self.interval_s)

    def scan(self, now: float | None = None) -> int:
        """Look once; take every file that has been stable long enough.  Returns how many were taken."""
        now = time.monotonic() if now is None else now
        taken = 0
        current = {p for p in self.folder.rglob("*") if p.is_file() and not p.name.startswith(".")}
        for path in list(self._seen):
            if path not in current:
                del self._seen[path]
        for path in sorted(current):
            try:
                stat = path.stat()
            except FileNotFoundError:
                continue
            size, mtime, since = self._seen.get(path, (-1, -1, now))
            if (stat.st_size, stat.st_mtime_ns) != (size, mtime):
                self._seen[path] = (stat.st_size, stat.st_mtime_ns, now)
            elif now - since >= self.stable_s:
                self._take(path)
                del self._seen[path]
                taken += 1
        return taken

    def _take(self, path: Path) -> None:
        try:
            self.spool.accept(path.read_bytes(), source=f"watch:{path.name}", name=path.name)
        except InvalidInput as exc:
            target = self.spool.set_aside(path, "rejected", str(exc))
            log.warning("%s rejected: %s", path, exc)
            log.debug("moved to %s", target)
            return
        path.unlink()  # durable in the spool (fsynced) before the original goes
