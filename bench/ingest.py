"""DICOM ingest throughput through sharedcenter against posting the same files straight to Orthanc.

Starts a private Orthanc (Debian's package) and ``sharedcenter serve`` as a separate process with
Orthanc as its DICOM store, then sends the same set of files (fresh UIDs for each run, so every run
stores new instances) both ways, alternating, and prints files/s, MB/s and the ratio
sharedcenter / direct.  The baseline is one client posting each file to Orthanc's ``/instances``
over a kept-alive connection; the sharedcenter run is the ``sharedcenter upload`` client path.

    .venv/bin/python bench/ingest.py [--studies 10] [--per-study 20] [--large 10] [--rounds 2]

Goal (issue 2): ratio at least 0.9.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import pydicom
from pydicom.data import get_testdata_file
from pydicom.uid import generate_uid

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sharedcenter.auth import create_user, issue_token  # noqa: E402
from sharedcenter.config import load_settings  # noqa: E402
from sharedcenter.region import load_region, read_region  # noqa: E402
from sharedcenter.services import Services  # noqa: E402
from sharedcenter.upload import Journal, collect, plan_batches, send_batches  # noqa: E402
from tests.servers import OrthancServer, free_port, wait_for  # noqa: E402

CR = ROOT.parent / "shared" / "data" / "cxr_dicom_samples"


def _templates(large: int) -> list[pydicom.Dataset]:
    small = pydicom.dcmread(str(get_testdata_file("CT_small.dcm")))
    crs = sorted(CR.glob("*.dcm")) if CR.is_dir() else []
    big = [pydicom.dcmread(p) for p in crs[:1]] * large
    return [small, *big]


def make_files(folder: Path, studies: int, per_study: int, large: int) -> list[Path]:
    """Write ``studies`` CT studies of ``per_study`` instances and ``large`` one-image CR studies."""
    folder.mkdir(parents=True, exist_ok=True)
    small, *big = _templates(large)
    out: list[Path] = []
    plan = [(small, per_study)] * studies + [(ds, 1) for ds in big]
    for s, (template, count) in enumerate(plan):
        study_uid, series_uid = generate_uid(), generate_uid()
        for i in range(count):
            ds = template.copy()
            ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = study_uid, series_uid, generate_uid()
            ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
            path = folder / f"s{s:03d}_{i:03d}.dcm"
            ds.save_as(path, enforce_file_format=True)
            out.append(path)
    return out


def direct(orthanc: OrthancServer, files: list[Path]) -> float:
    with httpx.Client(base_url=orthanc.url, auth=(orthanc.user, orthanc.password), timeout=120) as client:
        start = time.perf_counter()
        for path in files:
            client.post("/instances", content=path.read_bytes(),
                        headers={"Content-Type": "application/dicom"}).raise_for_status()
        return time.perf_counter() - start


def through_sharedcenter(url: str, token: str, files: list[Path], parallel: int = 2) -> float:
    """``sharedcenter upload``'s path: collect, plan, send ``parallel`` studies at once (the command's
    default, 2) with a journal (in a temporary folder, fsync'ed per batch, as the command does)."""
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=120) as http, \
            tempfile.TemporaryDirectory(prefix="bench-journal-") as state:
        start = time.perf_counter()
        inputs = collect(files)
        batches, _ = plan_batches(inputs.items)
        with Journal.for_upload(url, "c01-t01", files, Path(state)) as journal:
            summary = send_batches(http, batches, "c01-t01", journal, parallel=parallel)
        inputs.close()
        elapsed = time.perf_counter() - start
    if not summary.to_json()["complete"] or summary.instances_sent != len(files):
        raise SystemExit(f"upload incomplete: {summary.errors or summary.to_json()}")
    return elapsed


def start_server(env: dict[str, str], port: int, log: Path) -> subprocess.Popen[bytes]:
    with log.open("wb") as fh:
        proc = subprocess.Popen([sys.executable, "-m", "sharedcenter", "serve", "--port", str(port)], env=env,
                                stdout=fh, stderr=subprocess.STDOUT)
    wait_for(lambda: _answers(f"http://127.0.0.1:{port}/healthz"), 60, "sharedcenter serve")
    return proc


def _answers(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


def setup_stack(work: Path) -> tuple[OrthancServer, Services, str, dict[str, str]]:
    """A private Orthanc, a sharedcenter database on it with the example region and a technician's
    token, and the environment that makes ``sharedcenter serve`` use them."""
    orthanc = OrthancServer(work / "orthanc", stable_age=3600)
    orthanc.start()
    settings = load_settings(env="dev", data_dir=work / "var", dicom_store="orthanc", orthanc_url=orthanc.url,
                             orthanc_user=orthanc.user, orthanc_password=orthanc.password)
    services = Services.from_settings(settings)
    services.db.upgrade()
    with services.db.session() as session:
        load_region(session, read_region(settings.region_file))
        user = create_user(session, "bench", "bench-password", "technician", site_code="c01-t01")
        token = issue_token(session, user.id, "bench", None)
    env = {**os.environ, "SHAREDCENTER_DATA_DIR": str(settings.data_dir), "SHAREDCENTER_DICOM_STORE": "orthanc",
           "SHAREDCENTER_ORTHANC_URL": orthanc.url, "SHAREDCENTER_ORTHANC_USER": orthanc.user,
           "SHAREDCENTER_ORTHANC_PASSWORD": orthanc.password}
    return orthanc, services, token, env


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--large", type=int, default=10,
                        help="one-image CR studies (the first CR sample: 0.7 MB JPEG 2000)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-ingest-"))
    orthanc, services, token, env = setup_stack(work)
    port = free_port()
    server = start_server(env, port, work / "serve.log")
    try:
        rows = {"direct": [], "sharedcenter": []}
        size = 0
        for r in range(args.rounds):
            for way in ("direct", "sharedcenter"):
                files = make_files(work / f"{way}-{r}", args.studies, args.per_study, args.large)
                size = sum(p.stat().st_size for p in files)
                elapsed = (direct(orthanc, files) if way == "direct"
                           else through_sharedcenter(f"http://127.0.0.1:{port}", token, files))
                rows[way].append(elapsed)
        n = len(files)
        result = {}
        for way, times in rows.items():
            best = min(times)
            result[way] = {"files": n, "mb": round(size / 1e6, 1), "seconds": [round(t, 3) for t in times],
                           "files_per_s": round(n / best, 1), "mb_per_s": round(size / 1e6 / best, 1)}
            print(f"{way:>13}: {n} files, {size / 1e6:.1f} MB, best {best:.2f} s "
                  f"-> {n / best:.1f} files/s, {size / 1e6 / best:.1f} MB/s  (runs: {times})")
        ratio = min(rows["direct"]) / min(rows["sharedcenter"])
        med = statistics.median(rows["direct"]) / statistics.median(rows["sharedcenter"])
        print(f"ratio sharedcenter/direct throughput: best {ratio:.2f}, median {med:.2f} (goal >= 0.9)")
        print(json.dumps({"ratio": round(ratio, 3), "ratio_median": round(med, 3), **result}))
    finally:
        server.terminate()
        server.wait(timeout=20)
        orthanc.stop()
        services.close()


if __name__ == "__main__":
    main()
