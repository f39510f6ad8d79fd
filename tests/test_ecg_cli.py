"""``sharedcenter ecg inspect`` on every ECG format, as a real process, and the upload plan of each format."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from sharedcenter.config import Settings
from sharedcenter.ecg.aecg import write_aecg
from sharedcenter.ecg.read import read_ecg
from sharedcenter.ecg.scp import write_scp
from sharedcenter.ecg.write import write_dicom_ecg
from sharedcenter.upload import collect, plan_batches
from tests.utils import simulated_wfdb
from tests.utils.processes import settings_env


@pytest.fixture
def formats(tmp_path: Path) -> dict[str, Path]:
    """One recording (neurokit2-simulated, 12 leads, 72 bpm) in every format, written by our writers."""
    wfdb_files = simulated_wfdb(tmp_path / "wfdb", name="rec")
    record = read_ecg(wfdb_files)
    out = tmp_path / "files"
    out.mkdir()
    paths = {"wfdb": tmp_path / "wfdb" / "rec.hea"}
    for name, data in (("dicom", write_dicom_ecg(record)), ("aecg", write_aecg(record)),
                       ("scp", write_scp(record))):
        paths[name] = out / f"ecg.{name}.bin"  # names say nothing: the content decides
        paths[name].write_bytes(data)
    paths["zip"] = out / "rec.zip"
    with zipfile.ZipFile(paths["zip"], "w") as zf:
        for name, data in wfdb_files.items():
            zf.writestr(name, data)
    return paths


@pytest.mark.parametrize("kind", ["wfdb", "dicom", "aecg", "scp", "zip"])
def test_inspect_every_format(settings: Settings, formats: dict[str, Path], kind: str) -> None:
    out = subprocess.run([sys.executable, "-m", "sharedcenter", "ecg", "inspect", str(formats[kind]), "--json"],
                         capture_output=True, text=True, env=settings_env(settings), timeout=120)
    assert out.returncode == 0, out.stderr
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    assert summary["leads"][:3] == ["I", "II", "III"] and len(summary["leads"]) == 12
    assert summary["fs"] == 500 and abs(summary["duration_s"] - 10) < 0.1
    assert summary["quality"]["verdict"] in {"acceptable", "acceptable_with_warnings"}


def test_inspect_refuses_garbage(settings: Settings, tmp_path: Path) -> None:
    junk = tmp_path / "junk.xml"
    junk.write_text("<notanecg/>")
    out = subprocess.run([sys.executable, "-m", "sharedcenter", "ecg", "inspect", str(junk)],
                         capture_output=True, text=True, env=settings_env(settings), timeout=120)
    assert out.returncode == 2 and "error:" in out.stderr


def test_upload_plan_groups_each_format(formats: dict[str, Path]) -> None:
    """A WFDB record's files go together, every other ECG file alone, each batch declared complete; a
    file of no known format is skipped with its reason (``sharedcenter upload`` reports it, the demo refuses)."""
    folder = formats["wfdb"].parent
    paths = [folder, formats["dicom"], formats["aecg"], formats["scp"], formats["zip"]]
    inputs = collect(paths)
    batches, duplicates = plan_batches(inputs.items)
    inputs.close()
    groups = sorted(sorted(Path(item.origin).name for item in b.items) for b in batches)
    assert groups == sorted([["rec.dat", "rec.hea"], [formats["dicom"].name], [formats["aecg"].name],
                             [formats["scp"].name], ["rec.zip"]])
    assert all(b.complete for b in batches) and len({b.group for b in batches}) == 5
    assert inputs.skipped == [] and duplicates == []
    stray = folder / "notes.txt"
    stray.write_text("not an ECG")
    inputs = collect([folder])
    assert [(s.origin, s.reason) for s in inputs.skipped] == [(str(stray), "not DICOM nor a known ECG format")]
    assert sorted(Path(item.origin).name for item in inputs.items) == ["rec.dat", "rec.hea"]
