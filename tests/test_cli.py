"""The ``sharedcenter`` command, run as a real process."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from sharedcenter.auth import Principal
from sharedcenter.config import Settings
from sharedcenter.services import Services
from tests.conftest import PASSWORD, serve_api
from tests.utils import dicom_bytes, simulated_wfdb
from tests.utils.processes import settings_env


def sc(settings: Settings, *args: str, stdin: str | None = None, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sharedcenter", *args], capture_output=True, text=True,
                          env={**settings_env(settings), **env}, input=stdin, timeout=300)


def test_region_users_and_tokens(settings: Settings, tmp_path: Path) -> None:
    out = sc(settings, "region", "load", str(settings.region_file))
    assert out.returncode == 0, out.stderr
    assert "13 centers, 92 sites" in out.stdout
    bad = tmp_path / "bad.toml"
    bad.write_text('[region]\ncode = "X"\n')
    out = sc(settings, "region", "load", str(bad))
    assert out.returncode == 2 and "at least one county is required" in out.stderr
    out = sc(settings, "user", "add", "zhang", "--role", "radiologist", "--center", "c01-img", "--name", "张医生",
             SHAREDCENTER_NEW_PASSWORD=PASSWORD)
    assert out.returncode == 0, out.stderr
    out = sc(settings, "user", "add", "li", "--role", "radiologist", "--center", "c01-ecg",
             SHAREDCENTER_NEW_PASSWORD=PASSWORD)
    assert out.returncode == 2 and "needs an existing imaging" in out.stderr
    out = sc(settings, "token", "create", "zhang", "--name", "script")
    assert out.returncode == 0 and out.stdout.startswith("sc_")
    assert sc(settings, "token", "create", "nobody").returncode == 2


def test_bad_settings_exit_with_a_clear_message(settings: Settings) -> None:
    out = sc(settings, "db", "upgrade", SHAREDCENTER_DICOM_STORE="tape")
    assert out.returncode == 2 and "SHAREDCENTER_DICOM_STORE" in out.stderr


def test_upload_with_progress_and_errors(services: Services, people: dict[str, Principal], tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    folder.mkdir()
    for i in range(3):
        (folder / f"{i}.dcm").write_bytes(dicom_bytes(study_uid="1.2.826.0.1.3680043.8.498.77"))
    for name, data in simulated_wfdb(tmp_path / "ecg").items():
        (folder / name).write_bytes(data)
    state = {"XDG_STATE_HOME": str(tmp_path / "state"), "SHAREDCENTER_PASSWORD": PASSWORD}
    with serve_api(services) as url:
        args = ("upload", str(folder), "--url", url, "--user", "tech", "--json")
        out = sc(services.settings, *args, **state)
        assert out.returncode == 0, out.stderr
        studies = json.loads(out.stdout.splitlines()[-1])["studies"]
        assert sorted((s["kind"], s["instance_count"]) for s in studies) == [("dicom", 3), ("ecg", 2)]
        assert "uploading 5 files" in out.stderr
        again = sc(services.settings, *args, **state)  # a finished upload is not resumed: sent again, harmlessly
        again_studies = json.loads(again.stdout.splitlines()[-1])["studies"]
        assert {s["id"] for s in again_studies} == {s["id"] for s in studies}
        assert all(s["duplicate"] for s in again_studies) and not any(s["duplicate"] for s in studies)
        assert [s["instance_count"] for s in again_studies] == [s["instance_count"] for s in studies]
        (folder / "readme.txt").write_text("not an exam")
        out = sc(services.settings, *args, **state)
        assert out.returncode == 0, out.stderr
        assert json.loads(out.stdout.splitlines()[-1])["skipped"] == [
            {"file": str(folder / "readme.txt"), "reason": "not DICOM nor a known ECG format"}]
        assert "skipped" in out.stderr and "readme.txt" in out.stderr
        (folder / "readme.txt").unlink()
        out = sc(services.settings, "upload", str(folder), "--url", url, "--user", "tech", "--site", "c01-t02",
                 **state)
        assert out.returncode == 2 and "may not act for site" in out.stderr
        out = sc(services.settings, "upload", str(folder), "--url", url, "--token", "sc_wrong", **state)
        assert out.returncode == 2 and "HTTP 401" in out.stderr


@pytest.mark.slow
def test_demo_once(settings: Settings, tmp_path: Path) -> None:
    state = tmp_path / "state"  # the user's $XDG_STATE_HOME: the demo keeps no upload journal there
    out = sc(settings, "demo", "--once", XDG_STATE_HOME=str(state))
    assert out.returncode == 0, out.stderr[-3000:]
    summary = json.loads(out.stdout.strip().splitlines()[-1])
    kinds = sorted(s["kind"] for s in summary["studies"])
    assert kinds == ["dicom", "dicom", "ecg", "ecg"]
    assert all(s["state"] in ("preread", "signed") for s in summary["studies"])
    signed = [s for s in summary["studies"] if s["state"] == "signed"]
    assert len(signed) == 1 and signed[0]["kind"] == "ecg"
    assert Path(signed[0]["report_pdf"]).read_bytes().startswith(b"%PDF")
    # re-running is harmless: same studies, nothing duplicated
    again = sc(settings, "demo", "--once", XDG_STATE_HOME=str(state))
    assert again.returncode == 0, again.stderr[-3000:]
    assert [s["study_id"] for s in json.loads(again.stdout.strip().splitlines()[-1])["studies"]] == \
        [s["study_id"] for s in summary["studies"]]
    assert not state.exists() and not list((settings.data_dir / "demo" / "uploads").iterdir())
