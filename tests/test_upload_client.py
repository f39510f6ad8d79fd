"""``sharedcenter upload`` as a real process against the real API on Orthanc: folders, zips, DICOMDIRs,
bad zips, resume after ``kill -9`` and after the server went away, and the progress output."""

from __future__ import annotations

import io
import json
import os
import pty
import re
import signal
import subprocess
import sys
import threading
import time
import zipfile
from pathlib import Path
from typing import Any

import httpx
import pydicom
import pytest
from pydicom.fileset import FileSet
from pydicom.uid import generate_uid

from sharedcenter.auth import Principal, create_user
from sharedcenter.config import Settings, load_settings
from sharedcenter.ecg.aecg import write_aecg
from sharedcenter.ecg.read import read_ecg
from sharedcenter.ecg.scp import write_scp
from sharedcenter.ecg.write import write_dicom_ecg
from sharedcenter.errors import Conflict, InvalidInput
from sharedcenter.region import load_region, read_region
from sharedcenter.services import Services
from sharedcenter.upload import ArchiveLimits, BatchLimits, Journal, collect, plan_batches
from tests.conftest import PASSWORD, login, serve_api
from tests.data_paths import require_data
from tests.servers import OrthancServer
from tests.utils import dicom_bytes, simulated_wfdb
from tests.utils.link import SlowLink
from tests.utils.processes import poll, settings_env

pytestmark = pytest.mark.servers


@pytest.fixture
def settings(tmp_path: Path, orthanc_server: OrthancServer) -> Settings:
    """The API's DICOM store is the session's real Orthanc (overrides conftest's embedded settings)."""
    return load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key", dicom_store="orthanc",
                         orthanc_url=orthanc_server.url, orthanc_user=orthanc_server.user,
                         orthanc_password=orthanc_server.password)


@pytest.fixture
def env(settings: Settings, tmp_path: Path) -> dict[str, str]:
    return {**settings_env(settings), "XDG_STATE_HOME": str(tmp_path / "state"), "SHAREDCENTER_PASSWORD": PASSWORD}


def journals(env: dict[str, str]) -> list[Path]:
    return sorted((Path(env["XDG_STATE_HOME"]) / "sharedcenter" / "uploads").glob("*.jsonl"))


def upload_cmd(url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "sharedcenter", "upload", *args, "--url", url, "--user", "tech", "--json"]


def run_upload(env: dict[str, str], url: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, Any]]:
    out = subprocess.run(upload_cmd(url, *args), capture_output=True, text=True, env=env, timeout=300)
    lines = out.stdout.strip().splitlines()
    return out, (json.loads(lines[-1]) if lines else {})


def write_study(folder: Path, n: int, study_uid: str, **tags: object) -> list[Path]:
    """``n`` generated instances (pydicom's CT_small, fresh UIDs) of one study, in series sub-folders."""
    paths = []
    for i in range(n):
        path = folder / f"SE{i % 3}" / f"IM{i // 3:04d}"  # same names in different folders, as modalities write
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(dicom_bytes("CT_small.dcm", study_uid=study_uid, **tags))
        paths.append(path)
    return paths


def real_cxr(folder: Path, study_uid: str) -> list[Path]:
    """The shared real CR chest radiograph (uncompressed and JPEG 2000) with fresh UIDs, one study."""
    source = require_data("cxr_dicom_samples")
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for name in ("RG1_UNCR.dcm", "RG1_J2KI.dcm"):
        ds = pydicom.dcmread(source / name)
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.AccessionNumber = f"ACC{study_uid[-8:]}"
        ds.save_as(folder / name, enforce_file_format=True)
        out.append(folder / name)
    return out


def orthanc_instances(server: OrthancServer, study_uid: str) -> int:
    auth = (server.user, server.password)
    found = httpx.post(f"{server.url}/tools/find", auth=auth, timeout=10,
                       json={"Level": "Instance", "Query": {"StudyInstanceUID": study_uid}}).json()
    return len(found)


def site_studies(api_url: str) -> dict[str, dict[str, Any]]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        rows = client.get("/api/studies", headers=login(client, "tech")).json()
    return {s["study_instance_uid"]: s for s in rows if s.get("study_instance_uid")}


def audit_actions(api_url: str, study_id: int) -> list[str]:
    with httpx.Client(base_url=api_url, timeout=30) as client:
        return [e["action"] for e in client.get(f"/api/studies/{study_id}/audit", headers=login(client, "tech")).json()]


def test_folder_of_real_and_generated_files(services: Services, people: dict[str, Principal],
                                            orthanc_server: OrthancServer, env: dict[str, str], tmp_path: Path) -> None:
    cxr_uid, ct_uid = generate_uid(), generate_uid()
    folder = tmp_path / "export"
    real_cxr(folder / "cxr", cxr_uid)
    write_study(folder / "ct", 7, ct_uid, AccessionNumber=f"ACC{ct_uid[-8:]}")
    (folder / "notes.txt").write_text("patient moved during exposure")
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(folder), "--batch-files", "3")
        assert out.returncode == 0, out.stderr
        assert summary["instances_sent"] == 9 and summary["instances_failed"] == 0
        assert summary["batches_sent"] == 4 and summary["batches_skipped"] == 0  # 1 + ceil(7 / 3)
        assert summary["skipped"] == [{"file": str(folder / "notes.txt"),
                                       "reason": "not DICOM nor a known ECG format"}]
        assert summary["complete"] is True and summary["bytes"] > 7_000_000
        studies = site_studies(url)
        assert (studies[cxr_uid]["instance_count"], studies[ct_uid]["instance_count"]) == (2, 7)
        assert studies[ct_uid]["complete"] and studies[cxr_uid]["complete"]
        # declared complete by its last batch: the pre-read was queued at once, no quiet-period wait
        assert audit_actions(url, studies[ct_uid]["id"]).count("preread.queued") == 1
    assert orthanc_instances(orthanc_server, cxr_uid) == 2 and orthanc_instances(orthanc_server, ct_uid) == 7
    assert journals(env) == []  # a finished upload leaves nothing to resume


def test_zip_members_are_streamed(services: Services, people: dict[str, Principal], orthanc_server: OrthancServer,
                                  env: dict[str, str], tmp_path: Path) -> None:
    uid = generate_uid()
    archive = tmp_path / "study.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        for path in real_cxr(tmp_path / "src", uid) + write_study(tmp_path / "src" / "ct", 3, uid):
            zf.write(path, path.relative_to(tmp_path / "src").as_posix())
        zf.writestr("README.TXT", "exported by the DR console")
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(archive))
        assert out.returncode == 0, out.stderr
        assert summary["instances_sent"] == 5 and summary["studies"][0]["instance_count"] == 5
        assert summary["skipped"] == [{"file": f"{archive}!README.TXT",
                                       "reason": "not DICOM (only DICOM is taken from a zip of images)"}]
    assert orthanc_instances(orthanc_server, uid) == 5
    assert not any(p.suffix == ".dcm" for p in (tmp_path / "state").rglob("*"))  # nothing extracted to disk


def _patch_flags(data: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit in every local and central header (zipfile cannot write encryption)."""
    out = bytearray(data)
    for signature, offset in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
        at = out.find(signature)
        while at >= 0:
            out[at + offset] |= bit
            at = out.find(signature, at + 4)
    return bytes(out)


def _bad_zip(kind: str, path: Path) -> str:
    """Write a bad zip of ``kind``; return what the refusal must mention."""
    member = dicom_bytes()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        if kind == "traversal":
            zf.writestr("../../etc/cron.d/evil.dcm", member)
        elif kind == "absolute":
            zf.writestr("/tmp/evil.dcm", member)
        elif kind == "bomb":
            zf.writestr("ok.dcm", member)
            zf.writestr("big.dcm", b"\0" * (64 * 1024 * 1024))
        else:
            zf.writestr("secret.dcm", member)
    data = buffer.getvalue()
    if kind == "encrypted":
        data = _patch_flags(data, 0x1)
    elif kind == "corrupt":
        data = data[: len(data) // 2]
    path.write_bytes(data)
    return {"traversal": "path traversal", "absolute": "path traversal", "bomb": "zip bomb",
            "encrypted": "is encrypted", "corrupt": "not a readable zip"}[kind]


@pytest.mark.parametrize("kind", ["traversal", "absolute", "bomb", "encrypted", "corrupt"])
def test_bad_zip_is_refused_with_its_reason(kind: str, tmp_path: Path) -> None:
    archive = tmp_path / f"{kind}.zip"
    reason = _bad_zip(kind, archive)
    with pytest.raises(InvalidInput, match=reason) as caught:
        collect([archive])
    assert str(archive) in str(caught.value)


def test_zip_limits_are_checked_before_reading(tmp_path: Path) -> None:
    archive = tmp_path / "many.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        for i in range(5):
            zf.writestr(f"{i}.dcm", dicom_bytes())
    assert len(collect([archive]).items) == 5
    with pytest.raises(InvalidInput, match="unpacks to .* more than the limit"):
        collect([archive], ArchiveLimits(max_total=100_000))
    with pytest.raises(InvalidInput, match="5 members, more than the limit of 4"):
        collect([archive], ArchiveLimits(max_members=4))


def test_bad_zip_sends_nothing(services: Services, people: dict[str, Principal], env: dict[str, str],
                               tmp_path: Path) -> None:
    good = tmp_path / "good"
    write_study(good, 2, generate_uid())
    _bad_zip("traversal", tmp_path / "evil.zip")
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(good), str(tmp_path / "evil.zip"))
        assert out.returncode == 2 and summary == {}
        assert "evil.zip: zip member '../../etc/cron.d/evil.dcm' points outside the archive" in out.stderr
        assert site_studies(url) == {}


def _dicomdir(root: Path, sources: list[Path]) -> Path:
    fileset = FileSet()
    for path in sources:
        fileset.add(pydicom.dcmread(path))
    fileset.write(root)
    return root / "DICOMDIR"


def test_dicomdir(services: Services, people: dict[str, Principal], orthanc_server: OrthancServer,
                  env: dict[str, str], tmp_path: Path) -> None:
    uid = generate_uid()
    dicomdir = _dicomdir(tmp_path / "cd", real_cxr(tmp_path / "src", uid) + write_study(tmp_path / "src", 3, uid))
    listed = [p for p in (tmp_path / "cd").rglob("IM*") if p.is_file()]
    assert len(listed) == 5
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(dicomdir))
        assert out.returncode == 0, out.stderr
        assert summary["instances_sent"] == 5 and summary["skipped"] == []
        assert orthanc_instances(orthanc_server, uid) == 5
        out, summary = run_upload(env, url, str(tmp_path / "cd"))  # the folder holding it: same files, once
        assert out.returncode == 0 and summary["instances_sent"] == 5 and summary["skipped"] == []
        listed[0].unlink()
        out, summary = run_upload(env, url, str(dicomdir))
        assert out.returncode == 2 and summary == {}
        assert f"lists 1 file(s) that are missing: {listed[0]}" in out.stderr
    assert orthanc_instances(orthanc_server, uid) == 5


def _start_upload(env: dict[str, str], url: str, folder: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(upload_cmd(url, str(folder), "--batch-files", "2", *args), env=env, text=True,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def _acked_lines(env: dict[str, str]) -> int:
    return sum(len(p.read_text().splitlines()) for p in journals(env))


@pytest.fixture
def big_study(tmp_path: Path) -> tuple[str, Path]:
    uid = generate_uid()
    write_study(tmp_path / "big", 24, uid)
    return uid, tmp_path / "big"


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_resume_after_the_client_is_killed(services: Services, people: dict[str, Principal],
                                           orthanc_server: OrthancServer, env: dict[str, str],
                                           big_study: tuple[str, Path], sig: int, code: int) -> None:
    """``kill -9`` (nothing runs after it) or Ctrl-C mid-upload; the same command then sends only the rest."""
    uid, folder = big_study
    with serve_api(services) as api_url:
        port = int(api_url.rsplit(":", 1)[1])
        link = SlowLink(port, rate=400_000)  # ~5 batches of 2 x 39 kB a second
        try:
            proc = _start_upload(env, link.url, folder)
            poll(lambda: _acked_lines(env) >= 3 or proc.poll() is not None, 60, "3 acknowledged batches")
            proc.send_signal(sig)
            _, stderr = proc.communicate(timeout=30)
            assert proc.returncode == code, f"the upload finished before it could be stopped: {stderr}"
            if sig == signal.SIGINT:
                assert "interrupted: what the server acknowledged is kept" in stderr
            held = site_studies(api_url)[uid]
            assert 6 <= held["instance_count"] < 24 and not held["complete"]
            out, summary = run_upload(env, link.url, str(folder), "--batch-files", "2")
        finally:
            link.close()
        assert out.returncode == 0, out.stderr
        assert summary["batches_skipped"] >= 3 and summary["batches_sent"] + summary["batches_skipped"] == 12
        assert summary["instances_sent"] + summary["instances_resumed"] == 24
        study = site_studies(api_url)[uid]
        assert study["instance_count"] == 24 and study["complete"]
        assert audit_actions(api_url, study["id"]).count("preread.queued") == 1
    assert orthanc_instances(orthanc_server, uid) == 24
    assert journals(env) == []


@pytest.mark.slow
def test_server_gone_mid_upload_is_a_clear_error_and_resumable(
    services: Services, people: dict[str, Principal], orthanc_server: OrthancServer, env: dict[str, str],
    big_study: tuple[str, Path],
) -> None:
    uid, folder = big_study
    with serve_api(services) as api_url:
        port = int(api_url.rsplit(":", 1)[1])
        link = SlowLink(port, rate=400_000)
        proc = _start_upload(env, link.url, folder, "--retries", "3", "--retry-wait", "0.2")
        poll(lambda: _acked_lines(env) >= 2 or proc.poll() is not None, 60, "2 acknowledged batches")
    try:  # the API server is stopped now; the client retries, then gives up
        stdout, stderr = proc.communicate(timeout=120)
        assert proc.returncode == 2, stderr
        assert "retrying" in stderr and "cannot reach" in stderr and "gave up after 3 tries" in stderr
        assert "run the same command again to send the rest" in stderr
        summary = json.loads(stdout.strip().splitlines()[-1])
        assert summary["complete"] is False and 2 <= summary["batches_sent"] < 12
        assert summary["instances_sent"] + summary["instances_pending"] == 24
        assert journals(env)
        with serve_api(services, port=port) as api_url:
            out, again = run_upload(env, link.url, str(folder), "--batch-files", "2")
            assert out.returncode == 0, out.stderr
            assert again["batches_skipped"] >= summary["batches_sent"]
            study = site_studies(api_url)[uid]
            assert study["instance_count"] == 24 and study["complete"]
    finally:
        link.close()
    assert orthanc_instances(orthanc_server, uid) == 24


def test_server_refusal_is_not_retried(services: Services, people: dict[str, Principal], env: dict[str, str],
                                       tmp_path: Path) -> None:
    """A 4xx names what is wrong and is not retried; the other studies still go."""
    folder = tmp_path / "mixed"
    good_uid = generate_uid()
    write_study(folder / "good", 2, good_uid)
    files = simulated_wfdb(folder / "ecg", "rec")
    (folder / "ecg" / "rec.dat").write_bytes(files["rec.dat"][:100])  # cut short: the server refuses it
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(folder))
        assert out.returncode == 2
        assert "HTTP 422" in out.stderr and "rec.hea" in out.stderr and "retrying" not in out.stderr
        assert summary["instances_failed"] == 2 and summary["instances_sent"] == 2
        assert site_studies(url)[good_uid]["instance_count"] == 2


def test_progress_output(services: Services, people: dict[str, Principal], env: dict[str, str],
                         tmp_path: Path) -> None:
    folder = tmp_path / "exam"
    write_study(folder, 4, generate_uid())
    with serve_api(services) as url:
        primary, secondary = pty.openpty()  # stderr on a terminal: click's bar
        with open(secondary, "wb") as err:
            proc = subprocess.run([*upload_cmd(url, str(folder), "--batch-files", "1"), "--no-resume"],
                                  stdout=subprocess.PIPE, stderr=err, env=env, timeout=300)
        shown = _read_all(primary)
        assert proc.returncode == 0
        assert "uploading 4 files (1 studies, 4 batches)" in shown and "100%" in shown
        # the bar counts bytes, so a batch of one file is near, not exactly, a quarter: any step in between
        assert re.search(r"\s([1-9][0-9]?)%", shown), shown
        assert "Warning" not in shown  # nothing from the libraries on a user's terminal
        out, _ = run_upload(env, url, str(folder))  # not a terminal: one line, no bar
        assert "uploading 4 files (1 studies, 1 batches)\n" in out.stderr and "%" not in out.stderr
        out, summary = run_upload(env, url, str(folder), "--quiet")
        assert "uploading" not in out.stderr and summary["instances_sent"] == 4


def _read_all(fd: int) -> str:
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except OSError:  # the other end is closed and drained
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(fd)
    return b"".join(chunks).decode(errors="replace")


def test_plan_declares_complete_only_on_the_last_batch(tmp_path: Path) -> None:
    uid = generate_uid()
    inputs = collect([*write_study(tmp_path / "a", 5, uid), tmp_path / "a"])  # given twice: sent once
    batches, duplicates = plan_batches(inputs.items)
    assert [len(b.items) for b in batches] == [5] and batches[0].complete and len(duplicates) == 0
    batches, _ = plan_batches(inputs.items, BatchLimits(files=2))
    assert [(len(b.items), b.complete) for b in batches] == [(2, False), (2, False), (1, True)]
    with pytest.raises(ValueError, match="batch limits must be positive"):
        BatchLimits(files=0)


@pytest.mark.parametrize("signal_first", [False, True])
def test_wfdb_files_given_one_by_one_go_as_one_record(tmp_path: Path, signal_first: bool) -> None:
    """``sharedcenter upload rec.hea rec.dat`` (how the demo gives its samples): the signal file goes with
    its header, once, in one complete batch, and is not reported skipped; an unknown file still is."""
    simulated_wfdb(tmp_path / "ecg", name="rec")
    hea, dat, junk = (tmp_path / "ecg" / name for name in ("rec.hea", "rec.dat", "notes.txt"))
    junk.write_text("not an ECG")
    inputs = collect([dat, junk, hea] if signal_first else [hea, junk, dat])
    batches, duplicates = plan_batches(inputs.items)
    inputs.close()
    assert [(sorted(i.name for i in b.items), b.complete) for b in batches] == [(["rec.dat", "rec.hea"], True)]
    assert duplicates == [] and [(s.origin, s.reason) for s in inputs.skipped] == [
        (str(junk), "not DICOM nor a known ECG format")]


def test_journal_survives_a_torn_line_and_keeps_two_runs_apart(tmp_path: Path) -> None:
    journal = Journal.for_upload("http://county", "c01-t01", [tmp_path], tmp_path / "state")
    with journal:
        journal.record(["1.2.3", "1.2.4"], [{"id": 7, "kind": "dicom"}])
        with pytest.raises(Conflict, match="another upload of the same inputs is running"), \
                Journal.for_upload("http://county/", "c01-t01", [tmp_path], tmp_path / "state"):
            pass
    with journal.path.open("a") as fh:
        fh.write('{"keys": ["1.2.5"')  # the client was killed while writing
    again = Journal.for_upload("http://county", "c01-t01", [tmp_path], tmp_path / "state")
    with again:
        again.load()
        assert again.acked == {"1.2.3", "1.2.4"} and list(again.studies) == [7]
        again.record(["1.2.6"], [])
    third = Journal(again.path)
    with third:
        third.load()  # the line after the torn one is whole
        assert third.acked == {"1.2.3", "1.2.4", "1.2.6"}
        third.discard()
    assert not journal.path.exists() and not journal.path.with_suffix(".lock").exists()
    other_site = Journal.for_upload("http://county", "c01-t02", [tmp_path], tmp_path / "state")
    assert other_site.path != journal.path


def test_server_errors_are_retried_until_the_store_is_back(people: dict[str, Principal], env: dict[str, str],
                                                          tmp_path: Path) -> None:
    """With its Orthanc down the API answers 503; the client backs off and finishes once Orthanc is back."""
    orthanc = OrthancServer(tmp_path / "orthanc", modalities=[])
    orthanc.start()
    settings = load_settings(env="test", data_dir=tmp_path / "var2", secret_key="test-secret-key",
                             dicom_store="orthanc", orthanc_url=orthanc.url, orthanc_user=orthanc.user,
                             orthanc_password=orthanc.password)
    services = Services.from_settings(settings)
    services.db.upgrade()
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        create_user(session, "tech", PASSWORD, "technician", site_code="c01-t01")
    uid = generate_uid()
    write_study(tmp_path / "exam", 3, uid)
    try:
        with serve_api(services) as url:
            orthanc.stop()
            link = SlowLink(int(url.rsplit(":", 1)[1]))
            proc = _start_upload(env, link.url, tmp_path / "exam", "--retries", "8", "--retry-wait", "0.5")
            poll(lambda: link.answered or proc.poll() is not None, 60, "the API's first answer")
            orthanc.start()
            stdout, stderr = proc.communicate(timeout=120)
            link.close()
            assert proc.returncode == 0, stderr
            assert "HTTP 503" in stderr and "retrying" in stderr
            assert json.loads(stdout.strip().splitlines()[-1])["instances_sent"] == 3
            assert site_studies(url)[uid]["instance_count"] == 3
        assert orthanc_instances(orthanc, uid) == 3
    finally:
        services.close()
        orthanc.stop()


def test_every_ecg_format_goes_as_before(services: Services, people: dict[str, Principal], env: dict[str, str],
                                         tmp_path: Path) -> None:
    """ECG records keep their own route: a WFDB pair, DICOM waveform, HL7 aECG, SCP-ECG and a zip of WFDB."""
    wfdb_files = simulated_wfdb(tmp_path / "ecg" / "wfdb", name="rec")
    record = read_ecg(wfdb_files)
    for name, data in (("wave.bin", write_dicom_ecg(record)), ("aecg.bin", write_aecg(record)),
                       ("scp.bin", write_scp(record))):
        (tmp_path / "ecg" / name).write_bytes(data)
    with zipfile.ZipFile(tmp_path / "ecg" / "rec.zip", "w") as zf:
        for name, data in wfdb_files.items():
            zf.writestr(name, data)
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(tmp_path / "ecg"))
    assert out.returncode == 0, out.stderr
    assert summary["skipped"] == [] and summary["instances_sent"] == 6 and summary["batches_sent"] == 5
    assert sorted(s["kind"] for s in summary["studies"]) == ["ecg"] * 5


class CountingLink(SlowLink):
    """A :class:`SlowLink` that watches the requests it relays: one is in flight from its first byte to
    the server until the first byte of the answer (HTTP/1.1 as httpx speaks it: one request at a time
    per connection), so ``most`` is the largest number of requests the server had at once."""

    def __init__(self, target_port: int, rate: float | None = None) -> None:
        self._count_lock = threading.Lock()
        self.in_flight = self.most = self.requests = 0
        super().__init__(target_port, rate)

    def _seen(self, state: list[bool], back: bool) -> None:
        with self._count_lock:
            if state[0] == back:  # a request starts (client bytes) or is answered (server bytes)
                state[0] = not back
                self.in_flight += -1 if back else 1
                self.requests += not back
                self.most = max(self.most, self.in_flight)


def write_studies(folder: Path, count: int, per_study: int) -> list[str]:
    uids = [generate_uid() for _ in range(count)]
    for n, uid in enumerate(uids):
        write_study(folder / f"study{n}", per_study, uid)
    return uids


@pytest.mark.parametrize("parallel", [1, 2, 3])
def test_studies_go_in_parallel(services: Services, people: dict[str, Principal], orthanc_server: OrthancServer,
                                env: dict[str, str], tmp_path: Path, parallel: int) -> None:
    """``--parallel N``: the server has N requests at once (never more), each study still arrives whole
    and is declared complete once, by its last batch."""
    uids = write_studies(tmp_path / "exam", 4, 6)
    with serve_api(services) as url:
        link = CountingLink(int(url.rsplit(":", 1)[1]), rate=400_000)  # ~0.2 s a batch of 2 files
        try:
            out, summary = run_upload(env, link.url, str(tmp_path / "exam"), "--batch-files", "2",
                                      "--parallel", str(parallel))
        finally:
            link.close()
        assert out.returncode == 0, out.stderr
        assert link.most == parallel and link.requests == 12 + 1  # 4 x 3 batches and the log-in
        assert summary["batches_sent"] == 12 and summary["instances_sent"] == 24 and summary["complete"]
        assert [s["id"] for s in summary["studies"]] == sorted(s["id"] for s in summary["studies"])
        held = site_studies(url)
        for uid in uids:
            assert held[uid]["instance_count"] == 6 and held[uid]["complete"]
            assert audit_actions(url, held[uid]["id"]).count("preread.queued") == 1
    assert [orthanc_instances(orthanc_server, uid) for uid in uids] == [6] * 4


def test_parallel_must_be_positive(env: dict[str, str], tmp_path: Path) -> None:
    write_study(tmp_path / "exam", 1, generate_uid())
    out, summary = run_upload(env, "http://127.0.0.1:9", str(tmp_path / "exam"), "--parallel", "0")
    assert out.returncode == 2 and summary == {}
    assert "Invalid value for '--parallel': 0 is not in the range x>=1" in out.stderr


@pytest.mark.slow
@pytest.mark.parametrize(("sig", "code"), [(signal.SIGKILL, -signal.SIGKILL), (signal.SIGINT, 130)])
def test_resume_after_kill_with_parallel_studies_sends_nothing_twice(
    services: Services, people: dict[str, Principal], orthanc_server: OrthancServer, env: dict[str, str],
    tmp_path: Path, sig: int, code: int,
) -> None:
    """``kill -9`` or Ctrl-C while three studies go two at a time: the re-run sends exactly the batches the
    journal does not hold (the server saw each of the others once), and every study is whole and complete
    once; Ctrl-C stops within the grace given to the batches in flight."""
    uids = write_studies(tmp_path / "exam", 3, 8)
    with serve_api(services) as api_url:
        link = CountingLink(int(api_url.rsplit(":", 1)[1]), rate=400_000)
        try:
            proc = _start_upload(env, link.url, tmp_path / "exam", "--parallel", "2")
            poll(lambda: _acked_lines(env) >= 3 or proc.poll() is not None, 60, "3 acknowledged batches")
            proc.send_signal(sig)
            signalled = time.monotonic()
            _, stderr = proc.communicate(timeout=30)
            assert proc.returncode == code, f"the upload finished before it could be stopped: {stderr}"
            assert time.monotonic() - signalled < 10
            journalled, first_run = _acked_lines(env), link.requests - 1
            assert journalled <= first_run <= journalled + 2  # at most the two in flight were lost
            assert link.most == 2
            out, summary = run_upload(env, link.url, str(tmp_path / "exam"), "--batch-files", "2")
        finally:
            link.close()
        assert out.returncode == 0, out.stderr
        assert summary["batches_skipped"] == journalled and summary["batches_sent"] == 12 - journalled
        assert link.requests - 2 - first_run == 12 - journalled  # the re-run sent nothing journalled
        held = site_studies(api_url)
        for uid in uids:
            assert held[uid]["instance_count"] == 8 and held[uid]["complete"]
            assert audit_actions(api_url, held[uid]["id"]).count("preread.queued") == 1
    assert [orthanc_instances(orthanc_server, uid) for uid in uids] == [8] * 3
    assert journals(env) == []


def test_a_refused_study_among_parallel_ones(services: Services, people: dict[str, Principal],
                                             env: dict[str, str], tmp_path: Path) -> None:
    """A 4xx for one study, while others go beside it: only that study fails, not retried."""
    folder = tmp_path / "mixed"
    uids = write_studies(folder, 4, 4)
    files = simulated_wfdb(folder / "ecg", "rec")
    (folder / "ecg" / "rec.dat").write_bytes(files["rec.dat"][:100])  # cut short: the server refuses it
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(folder), "--batch-files", "2", "--parallel", "3")
        assert out.returncode == 2
        assert out.stderr.count("HTTP 422") == 1 and "rec.hea" in out.stderr and "retrying" not in out.stderr
        assert summary["instances_failed"] == 2 and summary["instances_sent"] == 16
        assert summary["instances_pending"] == 0 and summary["batches_sent"] == 8
        assert summary["complete"] is False and len(summary["errors"]) == 1
        held = site_studies(url)
        assert [(held[uid]["instance_count"], held[uid]["complete"]) for uid in uids] == [(4, True)] * 4


def test_a_fatal_refusal_stops_parallel_studies_cleanly(services: Services, people: dict[str, Principal],
                                                        env: dict[str, str], tmp_path: Path) -> None:
    """403 (another site's code) holds for every batch: no batch starts after it, the rest is pending."""
    write_studies(tmp_path / "exam", 4, 4)
    with serve_api(services) as url:
        link = CountingLink(int(url.rsplit(":", 1)[1]))
        try:
            out, summary = run_upload(env, link.url, str(tmp_path / "exam"), "--batch-files", "2",
                                      "--parallel", "2", "--site", "c01-t02")
        finally:
            link.close()
        assert out.returncode == 2 and "HTTP 403" in out.stderr
        assert link.requests - 1 <= 2  # the first answer stops it: at most the other worker's batch went
        assert summary["instances_sent"] == 0 and summary["instances_pending"] == 16
        assert summary["complete"] is False and len(summary["errors"]) == 1 and summary["studies"] == []
        assert site_studies(url) == {}


def test_parallel_studies_sharing_a_new_accession_number(services: Services, people: dict[str, Principal],
                                                         env: dict[str, str], tmp_path: Path) -> None:
    """What kept the old client to one study at a time: new studies with one new AccessionNumber arriving
    at once. They now all go through (one order between them), none answered 500."""
    uids = [generate_uid() for _ in range(4)]
    for n, uid in enumerate(uids):
        write_study(tmp_path / "exam" / f"study{n}", 2, uid, AccessionNumber="ACC-PAR-1")
    with serve_api(services) as url:
        out, summary = run_upload(env, url, str(tmp_path / "exam"), "--parallel", "4")
        assert out.returncode == 0, out.stderr
        assert summary["instances_sent"] == 8 and summary["complete"] and "retrying" not in out.stderr
        held = site_studies(url)
        assert [(held[uid]["instance_count"], held[uid]["complete"]) for uid in uids] == [(2, True)] * 4
