"""Items grouped by study into the requests that carry them.

A DICOM study goes in batches, in order, and only its last batch declares it complete, so the server
queues the pre-read as soon as that batch lands (no quiet-period wait).  An ECG record goes whole in
one batch.  The plan is deterministic for the same inputs, which is what lets a journal resume it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable

from sharedcenter.upload._inputs import Item, Skipped

__all__ = ["Batch", "BatchLimits", "plan_batches"]


@dataclasses.dataclass(frozen=True, slots=True)
class BatchLimits:
    """At most ``files`` files and ``bytes`` bytes in one request (a batch is also the unit of resume)."""

    files: int = 32
    bytes: int = 32 * 1024 * 1024

    def __post_init__(self) -> None:
        if self.files < 1 or self.bytes < 1:
            raise ValueError(f"batch limits must be positive, got files={self.files}, bytes={self.bytes}")


@dataclasses.dataclass(frozen=True, slots=True)
class Batch:
    """One request: ``items`` of one ``group``; ``complete`` declares the study finished with it."""

    index: int
    group: str
    items: tuple[Item, ...]
    complete: bool

    @property
    def size(self) -> int:
        return sum(item.size for item in self.items)

    @property
    def keys(self) -> list[str]:
        return [item.key for item in self.items]


def _split(items: list[Item], limits: BatchLimits) -> list[list[Item]]:
    chunks: list[list[Item]] = [[]]
    size = 0
    for item in items:
        if chunks[-1] and (len(chunks[-1]) >= limits.files or size + item.size > limits.bytes):
            chunks.append([])
            size = 0
        chunks[-1].append(item)
        size += item.size
    return chunks


def plan_batches(items: Iterable[Item], limits: BatchLimits | None = None) -> tuple[list[Batch], list[Skipped]]:
    """Group ``items`` by study (first-seen order) into batches; a second copy of an instance is skipped.

    Returns
    -------
    tuple
        The batches, in sending order, and the duplicates left out (each naming the copy that is sent).
    """
    limits = limits or BatchLimits()
    groups: dict[str, list[Item]] = {}
    first: dict[str, Item] = {}
    duplicates: list[Skipped] = []
    for item in items:
        if item.key in first:
            duplicates.append(Skipped(item.origin, f"same SOP instance as {first[item.key].origin}"))
            continue
        first[item.key] = item
        groups.setdefault(item.group, []).append(item)
    batches: list[Batch] = []
    for group, members in groups.items():
        chunks = [members] if group.startswith("ecg:") else _split(members, limits)
        for n, chunk in enumerate(chunks):
            batches.append(Batch(len(batches), group, tuple(chunk), complete=n == len(chunks) - 1))
    return batches, duplicates
