"""Where the shared real data sets live (``../shared/data`` next to the repository).

The folder is resolved once, at import, so the autouse ``clean_environ`` fixture (which removes
``SHAREDCENTER_*`` variables) does not hide ``SHAREDCENTER_TEST_DATA``.  Tests that need a data set
call :func:`require_data`, which skips them with the reason when it is absent.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from sharedcenter.ecg.detect import wfdb_signal_files

__all__ = ["DATA_ENV", "SHARED_DATA", "require_data", "wfdb_files"]

#: Environment variable that overrides the data folder.
DATA_ENV = "SHAREDCENTER_TEST_DATA"
SHARED_DATA = Path(os.environ.get(DATA_ENV) or Path(__file__).resolve().parents[2] / "shared" / "data")


def require_data(*parts: str) -> Path:
    """The path ``SHARED_DATA/parts...``; skip the calling test if it does not exist."""
    path = SHARED_DATA.joinpath(*parts)
    if not path.exists():
        pytest.skip(f"real test data {path} not present (set {DATA_ENV} to the shared data folder)")
    return path


def wfdb_files(folder: Path, record: str) -> dict[str, bytes]:
    """The ``.hea`` and signal files of one WFDB record, as an upload would carry them."""
    header = folder / f"{record}.hea"
    files = {header.name: header.read_bytes()}
    for name in wfdb_signal_files(files[header.name]):
        files[name] = (folder / name).read_bytes()
    return files
