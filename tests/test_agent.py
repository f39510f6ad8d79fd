"""The township agent against the real county: sharedcenter's API (uvicorn) on the session Orthanc,
dcmtk's ``storescu`` as the modality, the agent as a real ``sharedcenter agent run`` process.

The link is cut by stopping the API server and restored by starting it again on the same port; the
agent is killed with SIGKILL while instances wait in its spool and started again on the same spool.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pydicom
import pytest
from pydicom.uid import generate_uid
from sqlalchemy import select

from sharedcenter.agent import Forwarder, ForwardPolicy, Journal, LinkDown, Spool, spool_status
from sharedcenter.auth import Principal, issue_token
from sharedcenter.config import Settings, load_settings
from sharedcenter.db import Study
from sharedcenter.dicomweb import build_multipart_related
from sharedcenter.services import Services
from tests.conftest import serve_api
from tests.data_paths import require_data
from tests.servers import OrthancServer, free_port
from tests.utils import dicom_bytes
from tests.utils.processes import poll

STORESCU = shutil.which("storescu")
pytestmark = pytest.mark.skipif(STORESCU is None, reason="dcmtk's storescu is not installed")


@pytest.fixture
def settings(tmp_path: Path, orthanc_server: OrthancServer) -> Settings:
    """The county: SQLite and a folder object store, the session Orthanc as its DICOM store."""
    return load_settings(env="test", data_dir=tmp_path / "var", secret_key="test-secret-key",
                         dicom_store="orthanc", orthanc_url=orthanc_server.url, orthanc_user=orthanc_server.user,
                         orthanc_password=orthanc_server.password)


def _token(services: Services, who: Principal) -> str:
    with services.db.session() as session:
        return issue_token(session, who.user_id, "township-agent", None)


@pytest.fixture
def token(services: Services, people: dict[str, Principal]) -> str:
    """A bearer token of technician ``tech`` (site c01-t01)."""
    return _token(services, people["tech"])


def _cr_copy(folder: Path, name: str = "RG1_UNCR.dcm") -> Path:
    """A real CR chest radiograph of ../shared/data with fresh UIDs (the session Orthanc is shared)."""
    ds = pydicom.dcmread(require_data("cxr_dicom_samples", name))
    ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
    ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
    path = folder / name
    ds.save_as(path, enforce_file_format=True)
    return path


def _instances(folder: Path, study_uid: str, count: int, prefix: str = "ct") -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for n in range(count):
        path = folder / f"{prefix}{n}.dcm"
        path.write_bytes(dicom_bytes(study_uid=study_uid, PatientID="P-AGENT-1"))
        out.append(path)
    return out


def _sop(path: Path) -> str:
    return str(pydicom.dcmread(path, stop_before_pixels=True).SOPInstanceUID)


def _storescu(port: int, files: list[Path], aet: str = "C01T01DR", *options: str) -> subprocess.CompletedProcess[str]:
    assert STORESCU is not None
    argv = [STORESCU, *options, "-aet", aet, "-aec", "SCAGENT", "127.0.0.1", str(port), *map(str, files)]
    return subprocess.run(argv, capture_output=True, text=True, timeout=120)


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "sharedcenter", "agent", *args], capture_output=True, text=True,
                          timeout=60, env={k: v for k, v in os.environ.items() if not k.startswith("SHAREDCENTER_")})


def _status(spool: Path) -> dict[str, Any]:
    """The spool's status as ``agent status --json`` prints it ({} while the agent has not created it yet);
    read in this process, as polling through the CLI would cost an interpreter start each time."""
    if not (spool / "journal.sqlite").exists():
        return {}
    return spool_status(spool)


def _status_cli(spool: Path) -> dict[str, Any]:
    answer = _cli("status", "--spool", str(spool), "--json")
    assert answer.returncode == 0, answer.stderr
    status: dict[str, Any] = json.loads(answer.stdout)
    return status


def _port_open(port: int) -> bool:
    import socket

    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.5):
        return True
    return False


@contextlib.contextmanager
def _agent(spool: Path, county: str, token: str, log: Path, *args: str) -> Iterator[subprocess.Popen[bytes]]:
    """A real ``sharedcenter agent run`` process; its log is printed when the test fails."""
    argv = [sys.executable, "-m", "sharedcenter", "agent", "run", "--spool", str(spool), "--county", county,
            "--quiet", "1", "--backoff-base", "0.2", "--backoff-cap", "1", *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHAREDCENTER_")}
    env.update(SHAREDCENTER_AGENT_TOKEN=token, PYTHONUNBUFFERED="1")
    with log.open("ab") as fh:
        proc = subprocess.Popen(argv, stdout=fh, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    except BaseException:
        sys.stderr.write(f"--- agent log {log} ---\n{log.read_text(errors='replace')[-6000:]}\n")
        raise
    finally:
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def _listening(proc: subprocess.Popen[bytes], port: int) -> None:
    poll(lambda: proc.poll() is not None or _port_open(port), 60, "the agent's DICOM port")
    assert proc.poll() is None, "the agent exited at start"


def _orthanc_sops(orthanc: OrthancServer, study_uid: str) -> list[str]:
    store = orthanc.dicom_store()
    return sorted(str(pydicom.dcmread(io.BytesIO(store.fetch(i)), stop_before_pixels=True).SOPInstanceUID)
                  for i in store.instance_ids(study_uid))


def _study(services: Services, uid: str) -> Study:
    with services.db.session() as session:
        study = session.scalar(select(Study).where(Study.study_instance_uid == uid))
        assert study is not None, f"no study {uid} at the county"
        session.expunge(study)
        return study


@pytest.mark.servers
@pytest.mark.slow
def test_link_cut_agent_killed_nothing_lost_nothing_duplicated(
    services: Services, token: str, orthanc_server: OrthancServer, tmp_path: Path,
) -> None:
    spool, log, port, dicom_port = tmp_path / "spool", tmp_path / "agent.log", free_port(), free_port()
    county = f"http://127.0.0.1:{port}"
    cr, cr_j2k = _cr_copy(tmp_path), _cr_copy(tmp_path, "RG1_J2KI.dcm")  # uncompressed and JPEG 2000
    cr_study = str(pydicom.dcmread(cr, stop_before_pixels=True).StudyInstanceUID)
    j2k_study = str(pydicom.dcmread(cr_j2k, stop_before_pixels=True).StudyInstanceUID)
    study_uid = generate_uid()
    ct = _instances(tmp_path / "ct", study_uid, 6)
    args = ("--listen", str(dicom_port), "--allow-aet", "C01T01DR")

    with serve_api(services, port=port), _agent(spool, county, token, log, *args) as agent:
        _listening(agent, dicom_port)
        echo = subprocess.run(["echoscu", "-aet", "C01T01DR", "-aec", "SCAGENT", "127.0.0.1", str(dicom_port)],
                              capture_output=True, text=True, timeout=60)
        assert echo.returncode == 0, echo.stderr  # the modality's "test destination" works
        assert _storescu(dicom_port, [cr, *ct[:2]]).returncode == 0
        assert _storescu(dicom_port, [cr_j2k], "C01T01DR", "-xw").returncode == 0  # proposes JPEG 2000
        poll(lambda: _status(spool)["sent"] == 4, 60, "the first four instances at the county")
        refused = _storescu(dicom_port, ct[2:3], aet="UNKNOWNAE")
        assert refused.returncode != 0 and _status(spool)["queued"] == 0  # not on the allow-list: not taken
    # the link is cut: the API is down, the agent keeps receiving
    with _agent(spool, county, token, log, *args) as agent:
        _listening(agent, dicom_port)
        assert _storescu(dicom_port, [*ct[2:4], ct[0], ct[2]]).returncode == 0  # two duplicates among them
        status = poll(lambda: (s := _status(spool))["queued"] == 2 and s["last_error"] and s, 30, "a link error")
        assert "cannot reach" in status["last_error"] and status["oldest_queued_age_s"] >= 0
        agent.send_signal(signal.SIGKILL)
        agent.wait(timeout=10)
    journal = Journal(spool / "journal.sqlite")
    queued = journal.queued()
    journal.close()
    assert sorted(q.sop_uid for q in queued) == sorted(map(_sop, ct[2:4]))
    assert all((spool / q.file).is_file() for q in queued)
    # restarted on the same spool, link still down, more arrives; then the link comes back
    with _agent(spool, county, token, log, *args) as agent:
        _listening(agent, dicom_port)
        assert _storescu(dicom_port, ct[4:]).returncode == 0
        assert _status(spool)["queued"] == 4
        with serve_api(services, port=port):
            poll(lambda: _status(spool)["queued"] == 0, 90, "the spool to drain once the link is back")
            poll(lambda: _study(services, study_uid).complete, 30, "the study declared complete")

    assert _orthanc_sops(orthanc_server, study_uid) == sorted(map(_sop, ct))
    assert _orthanc_sops(orthanc_server, cr_study) == [_sop(cr)]
    assert _orthanc_sops(orthanc_server, j2k_study) == [_sop(cr_j2k)]
    assert _study(services, study_uid).instance_count == 6  # the county counted each instance once
    assert _study(services, cr_study).instance_count == 1 and _study(services, cr_study).complete
    final = _status_cli(spool)
    assert (final["queued"], final["sent"], final["failed"], final["running"]) == (0, 8, 0, False)
    assert list((spool / "queue").iterdir()) == []
    journal = Journal(spool / "journal.sqlite")
    assert set(journal.states().values()) == {"sent"} and len(journal.states()) == 8
    journal.close()


@pytest.mark.servers
@pytest.mark.slow
def test_folder_watch_rejects_non_dicom_and_sets_aside_a_refused_instance(
    services: Services, people: dict[str, Principal], token: str, orthanc_server: OrthancServer, tmp_path: Path,
) -> None:
    spool, watch, log, port = tmp_path / "spool", tmp_path / "watch", tmp_path / "agent.log", free_port()
    watch.mkdir()
    good = dicom_bytes(PatientID="P-WATCH-1")
    other_site_study = generate_uid()
    taken = dicom_bytes(study_uid=other_site_study)
    with serve_api(services, port=port) as url:
        import httpx

        body, content_type = build_multipart_related([dicom_bytes(study_uid=other_site_study)])
        answer = httpx.post(f"{url}/dicomweb/studies", content=body, timeout=60, headers={
            "Content-Type": content_type, "Authorization": f"Bearer {_token(services, people['tech2'])}"})
        assert answer.status_code == 200, answer.text  # the study belongs to c01-t02 now
        with _agent(spool, url, token, log, "--watch", str(watch), "--watch-stable", "0.3") as agent:
            (watch / "notes.txt").write_text("not an image")
            (watch / "other-site.dcm").write_bytes(taken)
            with (watch / "good.dcm").open("wb") as fh:  # written in two steps: taken only once stable
                fh.write(good[: len(good) // 2])
                fh.flush()
                time.sleep(0.1)
                fh.write(good[len(good) // 2:])
            status = poll(lambda: (s := _status(spool)).get("sent") == 1 and s["failed"] == 1 and s["rejected"] == 1
                          and s, 60, "one sent, one failed, one rejected")
            assert agent.poll() is None
    assert status["queued"] == 0 and sorted(p.name for p in watch.iterdir()) == []
    reason = (spool / "rejected" / "notes.txt.reason.txt").read_text()
    assert "not a DICOM" in reason and (spool / "rejected" / "notes.txt").read_text() == "not an image"
    failed = (spool / "failed" / f"{pydicom.dcmread(io.BytesIO(taken)).SOPInstanceUID}.dcm")
    assert failed.read_bytes() == taken and "409" in Path(f"{failed}.reason.txt").read_text()
    good_uid = str(pydicom.dcmread(io.BytesIO(good)).StudyInstanceUID)
    store = orthanc_server.dicom_store()
    [stored] = store.instance_ids(good_uid)
    assert hashlib.sha256(store.fetch(stored)).digest() == hashlib.sha256(good).digest()
    text = _cli("status", "--spool", str(spool))
    assert text.returncode == 0 and "failed: 1" in text.stdout and "rejected: 1" in text.stdout


@pytest.mark.servers
def test_half_sent_batch_is_resent_and_the_county_dedups(
    services: Services, token: str, orthanc_server: OrthancServer, tmp_path: Path,
) -> None:
    """The county stored two instances but their answer never reached the agent (still queued in its
    journal): they are sent again with the third, and the county keeps each once."""
    import httpx

    study_uid = generate_uid()
    items = [dicom_bytes(study_uid=study_uid) for _ in range(3)]
    spool = Spool(tmp_path / "spool")
    assert all(spool.accept(data, "test").new for data in items)
    assert not spool.accept(items[0], "test").new  # a modality's re-send is stored once
    with serve_api(services) as url:
        body, content_type = build_multipart_related(items[:2])
        lost = httpx.post(f"{url}/dicomweb/studies", content=body, params={"complete": "false"}, timeout=60,
                          headers={"Content-Type": content_type, "Authorization": f"Bearer {token}"})
        assert lost.status_code == 200, lost.text
        forwarder = Forwarder(spool, url, token, policy=ForwardPolicy(quiet_s=0))
        steps = 0
        while forwarder.step():
            steps += 1
        forwarder.close()
    assert steps == 1 and spool.journal.counts().queued == 0 and spool.journal.counts().sent == 3
    assert len(orthanc_server.dicom_store().instance_ids(study_uid)) == 3
    assert _study(services, study_uid).instance_count == 3 and _study(services, study_uid).complete
    assert list((tmp_path / "spool" / "queue").iterdir()) == []
    spool.close()


def test_second_agent_on_a_spool_is_refused(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    spool.lock()
    try:
        answer = _cli("run", "--spool", str(tmp_path / "spool"), "--county", "http://127.0.0.1:9",
                      "--token", "x", "--watch", str(tmp_path))
        assert answer.returncode == 2 and "in use by another agent" in answer.stderr
        assert _status_cli(tmp_path / "spool")["running"] is True
    finally:
        spool.close()
    assert _status(tmp_path / "spool")["running"] is False


def test_a_study_is_declared_complete_with_its_last_instance_once_quiet(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    study_uid = generate_uid()
    for _ in range(3):
        spool.accept(dicom_bytes(study_uid=study_uid), "test")
    forwarder = Forwarder(spool, "http://127.0.0.1:9", "x", policy=ForwardPolicy(quiet_s=5, batch_max=16))
    now = time.time()
    early = forwarder.next_batch(now)
    assert early is not None and len(early.items) == 2 and not early.complete  # the latest is held back
    late = forwarder.next_batch(now + 6)
    assert late is not None and len(late.items) == 3 and late.complete
    forwarder.close()
    spool.close()


def test_backoff_doubles_with_jitter_up_to_the_cap() -> None:
    policy = ForwardPolicy(backoff_base_s=1, backoff_cap_s=8)
    waits = {n: [policy.backoff(n) for _ in range(200)] for n in (1, 2, 3, 10)}
    assert all(0.5 <= w <= 1 for w in waits[1]) and all(1 <= w <= 2 for w in waits[2])
    assert all(4 <= w <= 8 for w in waits[10]) and len(set(waits[10])) > 100
    with pytest.raises(ValueError, match="batch_max"):
        ForwardPolicy(batch_max=0)


def test_bad_input_is_refused_before_anything_is_stored(tmp_path: Path) -> None:
    spool = Spool(tmp_path / "spool")
    with pytest.raises(ValueError, match="not a DICOM Part 10 file"):
        spool.accept(b"hello", "test")
    answer = _cli("run", "--spool", str(tmp_path / "s2"), "--county", "ftp://x", "--token", "t", "--listen", "1")
    assert answer.returncode == 2 and "http://" in answer.stderr
    assert list((tmp_path / "spool" / "queue").iterdir()) == [] and spool.journal.counts().queued == 0
    spool.close()


@pytest.mark.servers
def test_a_refused_token_is_retried_later_not_set_aside(services: Services, people: dict[str, Principal],
                                                        tmp_path: Path) -> None:
    """401 is the agent's configuration, not the instance's fault: it stays queued and the error is shown."""
    spool = Spool(tmp_path / "spool")
    spool.accept(dicom_bytes(), "test")
    with serve_api(services) as url:
        forwarder = Forwarder(spool, url, "not-a-valid-token", policy=ForwardPolicy(quiet_s=0))
        with pytest.raises(LinkDown, match="HTTP 401"):
            forwarder.step()
        forwarder.close()
    counts = spool.journal.counts()
    assert (counts.queued, counts.failed) == (1, 0) and len(list((tmp_path / "spool" / "queue").iterdir())) == 1
    spool.close()
