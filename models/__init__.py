"""Torch model definitions, weight loading and the device they run on.

Importing this package does not import torch; :func:`select_device` does, on first use.
"""

from __future__ import annotations

import logging

from models.device import select_device

__all__ = ["select_device"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
