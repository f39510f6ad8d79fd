"""ECG ingest latency: parse + validate + quality + store, against a plain object-store PUT.

For a real 10 s, 12-lead, 500 Hz record (PTB-XL HR00001 from ../shared/data/ecg12_cinc, as WFDB
.hea + .mat), each round makes the bytes unique (one sample changed, so nothing is a duplicate) and
times, in the same process on the embedded adapters (SQLite, folder object store, folder DICOM
store), pinned to one CPU core:

* ``ingest``: ``ingest_ecg`` in a committed transaction: read and validate the files, quality
  checks, originals + canonical record + manifest into the object store, the DICOM waveform
  written and stored, the Study, the quality AIResult, the audit event and the queued pre-read;
* ``put``: ``object_store.put`` of the same bytes under a fresh key.

It prints p50/p95 of both, the parse / quality shares, and the ratio ingest / put.

    .venv/bin/python bench/ecg_ingest.py [--rounds 100] [--record HR00001]

Goal (issue 3): ingest p95 under 100 ms on one core.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from sharedcenter.config import load_settings  # noqa: E402
from sharedcenter.ecg.quality import assess_quality  # noqa: E402
from sharedcenter.ecg.read import read_ecg  # noqa: E402
from sharedcenter.region import load_region, read_region  # noqa: E402
from sharedcenter.services import Services  # noqa: E402
from sharedcenter.studies import ingest_ecg  # noqa: E402
from tests.data_paths import SHARED_DATA, wfdb_files  # noqa: E402


def _unique(files: dict[str, bytes], header: str, i: int) -> dict[str, bytes]:
    """The record with the last signal byte changed, so every round stores new content."""
    signal = next(name for name in files if name != header)
    data = bytearray(files[signal])
    data[-1] = i % 256
    data[-2] = (i // 256) % 256
    return {**files, signal: bytes(data)}


def _p(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[q - 1] * 1000 if len(values) > 2 else max(values) * 1000


def run(rounds: int, record: str) -> dict[str, float]:
    """Time both paths ``rounds`` times, alternating; return the figures in milliseconds."""
    files = wfdb_files(SHARED_DATA / "ecg12_cinc" / "records", record)
    header = f"{record}.hea"
    with tempfile.TemporaryDirectory() as tmp:
        services = Services.from_settings(load_settings(env="test", data_dir=Path(tmp), secret_key="bench-secret"))
        services.db.upgrade()
        with services.db.session() as session:
            load_region(session, read_region(services.settings.region_file))
        ingest, put, parse, quality = [], [], [], []
        for i in range(rounds + 5):
            upload = _unique(files, header, i + 1)
            start = time.perf_counter()
            with services.db.session() as session:
                ingest_ecg(services, session, "c01-t01", upload, actor="bench")
            middle = time.perf_counter()
            for name, data in upload.items():
                services.object_store.put(f"bench/{i}/{name}", data)
            end = time.perf_counter()
            parsed = read_ecg(upload)
            after_parse = time.perf_counter()
            assess_quality(parsed)
            after_quality = time.perf_counter()
            if i >= 5:  # warm-up rounds are not counted
                ingest.append(middle - start)
                put.append(end - middle)
                parse.append(after_parse - end)
                quality.append(after_quality - after_parse)
        services.close()
    return {
        "ingest_p50_ms": _p(ingest, 50), "ingest_p95_ms": _p(ingest, 95),
        "put_p50_ms": _p(put, 50), "put_p95_ms": _p(put, 95),
        "parse_p50_ms": _p(parse, 50), "quality_p50_ms": _p(quality, 50),
        "ratio_p50": _p(ingest, 50) / _p(put, 50), "ratio_p95": _p(ingest, 95) / _p(put, 95),
        "bytes": float(sum(len(d) for d in files.values())),
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=100)
    parser.add_argument("--record", default="HR00001", help="a 10 s 12-lead 500 Hz record in ecg12_cinc/records")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})
    figures = run(args.rounds, args.record)
    sys.stdout.write(json.dumps({k: round(v, 2) for k, v in figures.items()}, indent=1) + "\n")
    verdict = "met" if figures["ingest_p95_ms"] < 100 else "NOT met"
    sys.stdout.write(f"ingest p95 {figures['ingest_p95_ms']:.1f} ms vs put p95 {figures['put_p95_ms']:.2f} ms "
                     f"(ratio {figures['ratio_p95']:.0f}x); goal p95 < 100 ms on one core: {verdict}\n")  # fmt: skip


if __name__ == "__main__":
    main()
