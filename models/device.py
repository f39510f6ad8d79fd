"""The torch device a process runs its models on, chosen once per process.

``torch`` is imported only when a device is first asked for: it is slow to import, and modules
that merely name this function (pipelines, the worker's task table) must stay light.
"""

from __future__ import annotations

import functools
import logging
import re
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["select_device"]

logger = logging.getLogger(__name__)

_CUDA_RE = re.compile(r"^cuda(?::\d+)?$")


def select_device(prefer: str | None = None) -> torch.device:
    """Return the device to run models on: CUDA when available, else the CPU.

    The choice is made once per process for each ``prefer`` value and cached.

    Parameters
    ----------
    prefer
        ``None`` or ``"auto"``: CUDA if available, else CPU.  ``"cpu"``: force the CPU.
        ``"cuda"`` or ``"cuda:N"``: require that GPU.

    Returns
    -------
    torch.device

    Raises
    ------
    ValueError
        ``prefer`` is none of the values above.
    RuntimeError
        ``prefer`` names a CUDA device that this process cannot use.
    """
    return _select_device(_normalise(prefer))


def _normalise(prefer: str | None) -> str:
    value = (prefer or "auto").strip().lower()
    if value not in {"auto", "cpu"} and not _CUDA_RE.match(value):
        raise ValueError(f"prefer must be None, 'auto', 'cpu', 'cuda' or 'cuda:N', got {prefer!r}")
    return value


@functools.cache
def _select_device(prefer: str) -> torch.device:
    import torch

    if prefer == "cpu":
        device = torch.device("cpu")
    elif prefer == "auto":
        device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    else:
        device = torch.device(prefer)
        count = torch.cuda.device_count() if torch.cuda.is_available() else 0
        if (device.index or 0) >= count:
            raise RuntimeError(f"device {prefer!r} was asked for but this process sees {count} CUDA device(s)")
    logger.info("models run on %s", device)
    return device
