"""STOW-RS through sharedcenter against posting the same files straight to Orthanc's ``/instances``.

Reuses bench/ingest.py's set-up (private Orthanc, ``sharedcenter serve`` with Orthanc as its DICOM
store, generated studies with fresh UIDs per run) and sends each study as one STOW-RS request to
``POST /dicomweb/studies``; prints files/s both ways and the ratio sharedcenter / direct.

    .venv/bin/python bench/dicom_ingest.py [--studies 10] [--per-study 20] [--large 10] [--rounds 2]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent))

from ingest import direct, make_files, setup_stack, start_server

from sharedcenter.dicomweb import build_multipart_related
from tests.servers import free_port


def _by_study(files: list[Path]) -> list[list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        groups[str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)].append(path)
    return list(groups.values())


def stow(url: str, token: str, files: list[Path]) -> float:
    """Seconds to STOW every study of ``files``, one request per study."""
    studies = _by_study(files)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        start = time.perf_counter()
        for group in studies:
            body, content_type = build_multipart_related([p.read_bytes() for p in group])
            client.post("/dicomweb/studies", content=body, headers={"Content-Type": content_type}).raise_for_status()
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--large", type=int, default=10, help="one-image CR studies (~7 MB each)")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dicom-ingest-"))
    orthanc, services, token, env = setup_stack(work)
    port = free_port()
    server = start_server(env, port, work / "serve.log")
    try:
        rows: dict[str, list[float]] = {"direct": [], "stow": []}
        for r in range(args.rounds):
            for way in rows:
                files = make_files(work / f"{way}-{r}", args.studies, args.per_study, args.large)
                rows[way].append(direct(orthanc, files) if way == "direct"
                                 else stow(f"http://127.0.0.1:{port}", token, files))
        n = len(files)
        for way, times in rows.items():
            print(f"{way:>7}: {n} files, best {min(times):.2f} s -> {n / min(times):.1f} files/s  (runs: {times})")
        ratio = min(rows["direct"]) / min(rows["stow"])
        print(f"ratio STOW-through-sharedcenter/direct throughput: {ratio:.2f}")
        print(json.dumps({"ratio": round(ratio, 3), "files": n, "seconds": rows}))
    finally:
        server.terminate()
        server.wait(timeout=20)
        orthanc.stop()
        services.close()


if __name__ == "__main__":
    main()
