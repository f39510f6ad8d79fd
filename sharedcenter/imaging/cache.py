"""A small thread-safe LRU of decoded images, so window/level changes do not decode again."""

from __future__ import annotations

import collections
import threading
from collections.abc import Callable

from sharedcenter.imaging.render import Frame

__all__ = ["FrameCache"]


class FrameCache:
    """Decoded frames by DICOM store id, at most ``size`` images (the least recently used leave)."""

    def __init__(self, size: int = 16) -> None:
        if size < 1:
            raise ValueError(f"size must be at least 1, got {size}")
        self.size = size
        self._items: collections.OrderedDict[str, list[Frame]] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, store_id: str, load: Callable[[], list[Frame]]) -> list[Frame]:
        """The frames of ``store_id``, decoded by ``load`` on a miss."""
        with self._lock:
            if store_id in self._items:
                self._items.move_to_end(store_id)
                return self._items[store_id]
        frames = load()
        with self._lock:
            self._items[store_id] = frames
            while len(self._items) > self.size:
                self._items.popitem(last=False)
        return frames
