"""Chest radiograph pre-read time per image on the CPU, steady state, against decoding alone in the same run.

For the real CR of ../shared/data/cxr_dicom_samples, uncompressed and JPEG 2000: the whole pre-read
(``preread_cxr``: pick, decode with VOI LUT, quality gate, shipped model; Grad-CAM when a label is
flagged) with the shipped weights and with a copy that flags every label (so Grad-CAM runs), against
pydicom's ``pixel_array`` of the same file.  Then the DenseNet-121 architecture (ChestX-ray14 head,
224 x 224, random weights: the time, not the answer) that a hospital's checkpoint would run.  Models
load and warm up before timing; medians of ``--repeat`` runs.

    .venv/bin/python bench/cxr_preread.py [--repeat 10] [--threads N] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
DATA = ROOT.parent / "shared" / "data" / "cxr_dicom_samples"
FILES = {"uncompressed": "RG1_UNCR.dcm", "jpeg2000": "RG1_J2KI.dcm"}


def _median_s(fn: Callable[[], object], repeat: int) -> float:
    fn()  # warm-up: lazy model load, codec import, allocator
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _flag_all_weights(folder: Path) -> Path:
    import torch

    from models.cxr_load import DEFAULT_WEIGHTS

    blob = torch.load(DEFAULT_WEIGHTS, weights_only=True)
    blob["meta"]["thresholds"] = [0.0] * len(blob["meta"]["thresholds"])
    path = folder / "flag-all.pt"
    torch.save(blob, path)
    return path


def _densenet_s(repeat: int) -> float:
    import torch

    from models.cxr_densenet import DenseNet121

    net = DenseNet121().eval()
    batch = torch.rand(1, 3, 224, 224)

    def forward() -> None:
        with torch.no_grad():
            net(batch)

    return _median_s(forward, repeat)


def measure(repeat: int) -> dict[str, Any]:
    """Seconds per image by file and path, and the ratios to decoding alone."""
    import pydicom

    from pipelines.cxr_preread import preread_cxr

    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as tmp:
        flag_all = _flag_all_weights(Path(tmp))
        for kind, name in FILES.items():
            data = (DATA / name).read_bytes()
            decode = _median_s(lambda d=data: pydicom.dcmread(io.BytesIO(d)).pixel_array, repeat)
            shipped = _median_s(lambda d=data: preread_cxr([d]), repeat)
            cam = _median_s(lambda d=data: preread_cxr([d], flag_all), repeat)
            out[kind] = {"decode_s": decode, "preread_s": shipped, "preread_gradcam_s": cam,
                         "ratio_preread_to_decode": shipped / decode, "ratio_gradcam_to_decode": cam / decode}
    out["densenet121_forward_s"] = _densenet_s(repeat)
    return out


def report(figures: dict[str, Any], threads: int) -> None:
    """Print the figures as a table (bench output, not logging)."""
    print(f"CXR pre-read on the CPU, {threads} torch thread(s), median per image")
    for kind in FILES:
        f = figures[kind]
        print(f"  {kind:>12}: decode {1000 * f['decode_s']:7.1f} ms | pre-read {1000 * f['preread_s']:7.1f} ms "
              f"(x{f['ratio_preread_to_decode']:.2f} of decode) | with Grad-CAM of 2 labels "
              f"{1000 * f['preread_gradcam_s']:7.1f} ms (x{f['ratio_gradcam_to_decode']:.2f})")
    print(f"  DenseNet-121 (ChestX-ray14 head) forward, 1x3x224x224: "
          f"{1000 * figures['densenet121_forward_s']:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=10)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (one worker process per core)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON on the last line")
    args = parser.parse_args()
    import torch

    torch.set_num_threads(args.threads)
    warnings.simplefilter("ignore")
    figures = measure(args.repeat)
    report(figures, args.threads)
    if args.json:
        print(json.dumps({k: (round(v, 4) if isinstance(v, float) else
                              {kk: round(vv, 4) for kk, vv in v.items()}) for k, v in figures.items()}))


if __name__ == "__main__":
    main()
