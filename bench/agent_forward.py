"""The township agent's throughput against dcmtk's ``storescu`` straight to Orthanc, in the same run.

Reuses bench/ingest.py's set-up (private Orthanc, ``sharedcenter serve`` with Orthanc as its DICOM
store, a technician's token, generated studies with fresh UIDs per run) and starts a real
``sharedcenter agent run`` process.  For each round it times:

- ``direct``: ``storescu`` of the files straight to Orthanc's DICOM port (the baseline);
- ``received``: ``storescu`` of the same kind of files to the agent (C-STORE, fsynced into its spool);
- ``forwarded``: from the start of that ``storescu`` until the agent's journal has no queued instance
  (received, STOW-RS to sharedcenter, stored in Orthanc, acknowledged and deleted from the spool).

and prints files/s and the ratios received/direct and forwarded/direct.

    .venv/bin/python bench/agent_forward.py [--studies 5] [--per-study 20] [--large 5] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import setup_stack, start_server

from sharedcenter.agent import Journal
from tests.servers import OrthancServer, free_port, wait_for

STORESCU = shutil.which("storescu") or "storescu"
CR = Path(__file__).resolve().parents[2] / "shared" / "data" / "cxr_dicom_samples" / "RG1_UNCR.dcm"


def make_files(folder: Path, studies: int, per_study: int, large: int) -> list[Path]:
    """``studies`` CT studies of ``per_study`` instances (pydicom's CT_small) and ``large`` one-image CR
    studies (the uncompressed real CR of ../shared/data, ~7 MB: what a DR room sends), fresh UIDs."""
    ct = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    plan = [(ct, per_study)] * studies
    if CR.is_file():
        plan += [(pydicom.dcmread(CR), 1)] * large
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for s, (template, count) in enumerate(plan):
        study_uid, series_uid = generate_uid(), generate_uid()
        for i in range(count):
            ds = template.copy()
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            out.append(folder / f"s{s:03d}_{i:03d}.dcm")
            ds.save_as(out[-1], enforce_file_format=True)
    return out


def storescu(port: int, called: str, files: list[Path]) -> float:
    start = time.perf_counter()
    done = subprocess.run([STORESCU, "-R", "-aet", "C01T01DR", "-aec", called, "127.0.0.1", str(port),
                           *map(str, files)], capture_output=True, text=True)
    if done.returncode:
        raise SystemExit(f"storescu to {called} failed: {done.stderr[-2000:]}")
    return time.perf_counter() - start


def _queued(spool: Path) -> int:
    journal = Journal(spool / "journal.sqlite")
    try:
        return journal.counts().queued
    finally:
        journal.close()


def through_agent(port: int, spool: Path, files: list[Path]) -> tuple[float, float]:
    """Seconds to C-STORE ``files`` to the agent, and until all of them have left its spool."""
    start = time.perf_counter()
    received = storescu(port, "SCAGENT", files)
    while _queued(spool):
        time.sleep(0.02)
    return received, time.perf_counter() - start


def start_agent(work: Path, county: str, token: str, dicom_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHAREDCENTER_AGENT_TOKEN": token}
    with (work / "agent.log").open("wb") as fh:
        proc = subprocess.Popen(
            [sys.executable, "-m", "sharedcenter", "agent", "run", "--spool", str(work / "spool"), "--county",
             county, "--listen", str(dicom_port), "--quiet", "0.5"], env=env, stdout=fh, stderr=subprocess.STDOUT)
    wait_for(lambda: _port_open(dicom_port), 60, "the agent's DICOM port")
    return proc


def _port_open(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
    except OSError:
        return False
    return True


def run_rounds(args: argparse.Namespace, work: Path, orthanc: OrthancServer, dicom_port: int) -> dict[str, list[float]]:
    rows: dict[str, list[float]] = {"direct": [], "received": [], "forwarded": []}
    for r in range(args.rounds):
        files = make_files(work / f"direct-{r}", args.studies, args.per_study, args.large)
        rows["direct"].append(storescu(orthanc.dicom_port, orthanc.aet, files))
        files = make_files(work / f"agent-{r}", args.studies, args.per_study, args.large)
        received, forwarded = through_agent(dicom_port, work / "spool", files)
        rows["received"].append(received)
        rows["forwarded"].append(forwarded)
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=5)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--large", type=int, default=5, help="one-image CR studies (~7 MB each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-agent-"))
    orthanc, services, token, env = setup_stack(work)
    port, dicom_port = free_port(), free_port()
    server = start_server(env, port, work / "serve.log")
    agent = start_agent(work, f"http://127.0.0.1:{port}", token, dicom_port)
    try:
        rows = run_rounds(args, work, orthanc, dicom_port)
        n = args.studies * args.per_study + (args.large if CR.is_file() else 0)
        for way, times in rows.items():
            print(f"{way:>9}: {n} files, best {min(times):.2f} s -> {n / min(times):.1f} files/s  (runs: {times})")
        ratios = {way: round(min(rows["direct"]) / min(rows[way]), 3) for way in ("received", "forwarded")}
        print(f"ratio agent received/direct: {ratios['received']:.2f}, "
              f"forwarded (received + STOW-RS + acknowledged)/direct: {ratios['forwarded']:.2f}")
        print(json.dumps({"files": n, "ratios": ratios, "seconds": rows}))
    finally:
        agent.terminate()
        agent.wait(timeout=30)
        server.terminate()
        server.wait(timeout=20)
        orthanc.stop()
        services.close()


if __name__ == "__main__":
    main()
