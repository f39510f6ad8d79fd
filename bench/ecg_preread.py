"""Time the 12-lead ECG pre-read against neurokit2's own ``ecg_process`` on lead II, same run.

Usage: ``python bench/ecg_preread.py [RECORD_HEADER.hea] [--repeat N] [--model]``; default the
CPSC 2018 record A0001 of ../shared/data/ecg12_cinc (first 10 s).  One thread (one core).
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import time
import warnings
from pathlib import Path

DEFAULT = Path(__file__).resolve().parents[2] / "shared" / "data" / "ecg12_cinc" / "records" / "A0001.hea"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("header", nargs="?", type=Path, default=DEFAULT)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--model", action="store_true", help="include the 1-D CNN")
    args = parser.parse_args()
    import neurokit2 as nk
    import torch

    from models.ecg_cnn import load_classifier
    from pipelines.ecg_preread import preread_12lead
    from sharedcenter.ecg.detect import wfdb_signal_files
    from sharedcenter.ecg.read import read_wfdb

    torch.set_num_threads(1)
    warnings.simplefilter("ignore")
    files = {args.header.name: args.header.read_bytes()}
    files |= {n: (args.header.parent / n).read_bytes() for n in wfdb_signal_files(files[args.header.name])}
    record = read_wfdb(files)
    record = dataclasses.replace(record, signal=record.signal[: int(10 * record.fs)].copy())
    model = load_classifier() if args.model else None
    lead_ii = record.lead("II").astype("float64")
    ours, theirs = [], []
    preread_12lead(record, model), nk.ecg_process(lead_ii, sampling_rate=int(record.fs))  # warm-up
    for _ in range(args.repeat):
        start = time.perf_counter()
        preread_12lead(record, model)
        ours.append(time.perf_counter() - start)
        start = time.perf_counter()
        nk.ecg_process(lead_ii, sampling_rate=int(record.fs))
        theirs.append(time.perf_counter() - start)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"record {args.header.stem}: {record.signal.shape[1]} leads, {record.duration_s:.1f} s, {record.fs:.0f} Hz")
    print(f"sharedcenter 12-lead pre-read{' + CNN' if model else ''}: {1000 * a:.1f} ms (median of {args.repeat})")
    print(f"neurokit2 ecg_process, lead II only: {1000 * b:.1f} ms")
    print(f"ratio (ours / ecg_process): {a / b:.2f}")


if __name__ == "__main__":
    main()
