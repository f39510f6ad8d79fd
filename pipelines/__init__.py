"""AI pre-read pipelines: plain inputs in, plain :class:`PrereadResult` out; no database, no HTTP.

Importing this package imports neither torch nor neurokit2; each pipeline loads what it needs on
first use.
"""

from __future__ import annotations

import logging

from pipelines.dicom_summary import summarize_study
from pipelines.ecg_rate import preread_ecg
from pipelines.types import Finding, PrereadResult

__all__ = ["Finding", "PrereadResult", "preread_ecg", "summarize_study"]

logging.getLogger(__name__).addHandler(logging.NullHandler())
