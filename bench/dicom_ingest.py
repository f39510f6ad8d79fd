"""STOW-RS through sharedcenter against posting the same files straight to Orthanc's ``/instances``,
then the chest radiograph pre-read time per image on the CPU (bench/cxr_preread.py).

Reuses bench/ingest.py's set-up (private Orthanc, ``sharedcenter serve`` with Orthanc as its DICOM
store, generated studies with fresh UIDs per run) and sends each study as one STOW-RS request to
``POST /dicomweb/studies``; prints files/s both ways and the ratio sharedcenter / direct, overall
and by kind (the 20-instance CT studies, the one-image 7 MB CR studies).  Goal: ratio >= 0.9.

    .venv/bin/python bench/dicom_ingest.py [--studies 10] [--per-study 20] [--large 10] [--uncompressed 5] [--rounds 2]
                                          [--cxr-repeat 5 | --no-cxr]
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

import cxr_preread
from ingest import CR, make_files, setup_stack, start_server
from pydicom.uid import generate_uid

from sharedcenter.dicomweb import build_multipart_related
from tests.servers import OrthancServer, free_port


def _by_study(files: list[Path]) -> list[list[Path]]:
    groups: dict[str, list[Path]] = defaultdict(list)
    for path in files:
        groups[str(pydicom.dcmread(path, stop_before_pixels=True).StudyInstanceUID)].append(path)
    return list(groups.values())


def _kind(group: list[Path]) -> str:
    if len(group) > 1:
        return f"{len(group)}-instance CT"
    size = group[0].stat().st_size
    return f"one-image CR {'uncompressed' if size > 2_000_000 else 'JPEG 2000'} ({size / 1e6:.1f} MB)"


def make_uncompressed(folder: Path, count: int) -> list[Path]:
    """``count`` one-image studies of the real uncompressed CR (7.2 MB), fresh UIDs.  bench/ingest.py's
    ``--large`` studies use the first CR file by name, which is the 0.7 MB JPEG 2000 one."""
    folder.mkdir(parents=True, exist_ok=True)
    template = pydicom.dcmread(CR / "RG1_UNCR.dcm")
    out = []
    for i in range(count):
        ds = template.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID, ds.SOPInstanceUID = generate_uid(), generate_uid(), generate_uid()
        ds.file_meta.MediaStorageSOPInstanceUID = ds.SOPInstanceUID
        ds.save_as(folder / f"u{i:03d}.dcm", enforce_file_format=True)
        out.append(folder / f"u{i:03d}.dcm")
    return out


def _rounded(value: object) -> object:
    if isinstance(value, float):
        return round(value, 4)
    if isinstance(value, dict):
        return {k: _rounded(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v) for v in value]
    return value


def direct_by_kind(orthanc: OrthancServer, files: list[Path]) -> dict[str, float]:
    """Seconds to post every file straight to Orthanc, one at a time, summed by kind of study."""
    out: dict[str, float] = defaultdict(float)
    with httpx.Client(base_url=orthanc.url, auth=(orthanc.user, orthanc.password), timeout=300) as client:
        for group in _by_study(files):
            start = time.perf_counter()
            for path in group:
                client.post("/instances", content=path.read_bytes(),
                            headers={"Content-Type": "application/dicom"}).raise_for_status()
            out[_kind(group)] += time.perf_counter() - start
    return dict(out)


def stow_by_kind(url: str, token: str, files: list[Path]) -> dict[str, float]:
    """Seconds to STOW every study of ``files``, one request per study, summed by kind of study."""
    out: dict[str, float] = defaultdict(float)
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}, timeout=300) as client:
        for group in _by_study(files):
            start = time.perf_counter()
            body, content_type = build_multipart_related([p.read_bytes() for p in group])
            client.post("/dicomweb/studies", content=body, headers={"Content-Type": content_type}).raise_for_status()
            out[_kind(group)] += time.perf_counter() - start
    return dict(out)


def _print_ratios(rows: dict[str, list[dict[str, float]]], n: int) -> float:
    best = {way: min(sum(run.values()) for run in runs) for way, runs in rows.items()}
    for way, seconds in best.items():
        print(f"{way:>7}: {n} files, best {seconds:.2f} s -> {n / seconds:.1f} files/s")
    ratio = best["direct"] / best["stow"]
    print(f"ratio STOW-through-sharedcenter/direct throughput: {ratio:.2f} (goal >= 0.9)")
    for kind in sorted({k for runs in rows.values() for run in runs for k in run}):
        d, s = (min(run.get(kind, 0.0) for run in rows[way]) for way in ("direct", "stow"))
        print(f"  {kind} studies: direct {d:.2f} s, STOW {s:.2f} s, ratio {d / s:.2f}")
    return ratio


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", type=int, default=10)
    parser.add_argument("--per-study", type=int, default=20)
    parser.add_argument("--large", type=int, default=10, help="one-image JPEG 2000 CR studies (0.7 MB)")
    parser.add_argument("--uncompressed", type=int, default=5, help="one-image uncompressed CR studies (7.2 MB)")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--cxr-repeat", type=int, default=5, help="pre-read repeats per image")
    parser.add_argument("--no-cxr", action="store_true", help="skip the chest radiograph pre-read timing")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-dicom-ingest-"))
    orthanc, services, token, env = setup_stack(work)
    port = free_port()
    server = start_server(env, port, work / "serve.log")
    try:
        rows: dict[str, list[dict[str, float]]] = {"direct": [], "stow": []}
        for r in range(args.rounds):
            for way in rows:
                files = make_files(work / f"{way}-{r}", args.studies, args.per_study, args.large)
                files += make_uncompressed(work / f"{way}-{r}-u", args.uncompressed)
                rows[way].append(direct_by_kind(orthanc, files) if way == "direct"
                                 else stow_by_kind(f"http://127.0.0.1:{port}", token, files))
        ratio = _print_ratios(rows, len(files))
        summary: dict[str, object] = {"ratio": round(ratio, 3), "files": len(files), "seconds": rows}
        if not args.no_cxr:
            import torch

            torch.set_num_threads(1)  # one worker process per core
            figures = cxr_preread.measure(args.cxr_repeat)
            cxr_preread.report(figures, 1)
            summary["cxr_preread"] = figures
        print(json.dumps(_rounded(summary)))
    finally:
        server.terminate()
        server.wait(timeout=20)
        orthanc.stop()
        services.close()


if __name__ == "__main__":
    main()
