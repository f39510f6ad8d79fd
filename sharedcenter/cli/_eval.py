"""``sharedcenter eval``: measure the pre-read pipelines on real, labelled data.

Each subcommand is one function registered on the ``eval`` group; the last line it prints is JSON
when ``--json`` is given.
"""

from __future__ import annotations

import csv
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import click
import numpy as np
import numpy.typing as npt

from sharedcenter.cli._eval_cxr import cxr

__all__ = ["CPSC9_CODES", "OTHER_CODES", "eval_", "match_beats"]

logger = logging.getLogger(__name__)

#: MIT-BIH annotation symbols that mark a beat.
_BEAT_SYMBOLS = frozenset("NLRBAaJSVrFejnE/fQ?")
#: Statement codes that count as each CPSC-2018 class.
CPSC9_CODES: dict[str, frozenset[str]] = {
    "Normal": frozenset({"normal-ecg"}), "AF": frozenset({"atrial-fibrillation", "af-rapid"}),
    "I-AVB": frozenset({"first-degree-av-block"}), "LBBB": frozenset({"lbbb"}), "RBBB": frozenset({"rbbb"}),
    "PAC": frozenset({"pac"}), "PVC": frozenset({"pvc", "ventricular-tachycardia"}),
    "STD": frozenset({"st-depression"}), "STE": frozenset({"st-elevation", "possible-stemi"}),
}
#: Statements outside the 9 classes, scored against the SNOMED CT codes of ``dx_snomed``.
OTHER_CODES: dict[str, tuple[str, frozenset[str]]] = {
    "AFL": ("164890007", frozenset({"atrial-flutter"})), "CHB": ("27885002", frozenset({"complete-av-block"})),
}
_DIR = click.Path(exists=True, file_okay=False, path_type=Path)


@click.group("eval")
def eval_() -> None:
    """Evaluate the AI pre-read on real, labelled data (never on what a model was trained on)."""


eval_.add_command(cxr)  # chest radiographs: sharedcenter/cli/_eval_cxr.py


def match_beats(reference: npt.NDArray[np.int64], detected: npt.NDArray[np.int64], tolerance: int) -> int:
    """True positives: detections matched one-to-one to reference beats within ``tolerance`` samples."""
    i = j = matched = 0
    while i < reference.size and j < detected.size:
        if abs(int(detected[j]) - int(reference[i])) <= tolerance:
            matched, i, j = matched + 1, i + 1, j + 1
        elif detected[j] < reference[i]:
            j += 1
        else:
            i += 1
    return matched


def _beat_record(path: Path) -> dict[str, Any]:
    import wfdb

    from pipelines.ecg_rate import measure_rate

    record = wfdb.rdrecord(str(path))
    annotation = wfdb.rdann(str(path), "atr")
    reference = np.array([s for s, sym in zip(annotation.sample, annotation.symbol, strict=True)
                          if sym in _BEAT_SYMBOLS], dtype=np.int64)
    signal = np.asarray(record.p_signal[:, 0], dtype=np.float32)
    detected = measure_rate(signal, float(record.fs), str(record.sig_name[0])).r_peaks
    tp = match_beats(reference, detected, int(round(0.150 * record.fs)))
    return {"record": path.name, "reference": int(reference.size), "detected": int(detected.size), "tp": tp,
            "sensitivity": tp / max(reference.size, 1), "ppv": tp / max(detected.size, 1)}


@eval_.command("beats")
@click.argument("folder", type=_DIR)
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON on the last line")
def beats(folder: Path, as_json: bool) -> None:
    """QRS detection against the .atr reference beats of every WFDB record in FOLDER (150 ms window)."""
    rows = []
    for header in sorted(folder.glob("*.hea")):
        if header.with_suffix(".atr").exists():
            rows.append(_beat_record(header.with_suffix("")))
            click.echo(f"{rows[-1]['record']}: Se {rows[-1]['sensitivity']:.4f} PPV {rows[-1]['ppv']:.4f}")
    tp, ref, det = (sum(r[k] for r in rows) for k in ("tp", "reference", "detected"))
    se, ppv = tp / max(ref, 1), tp / max(det, 1)
    summary = {"records": len(rows), "sensitivity": se, "ppv": ppv, "f1": 2 * se * ppv / max(se + ppv, 1e-12),
               "beats": ref, "per_record": rows}
    click.echo(json.dumps(summary) if as_json else f"{len(rows)} records: Se {se:.4f} PPV {ppv:.4f}")


def _class_figures(y: npt.NDArray[np.bool_], p: npt.NDArray[np.bool_]) -> dict[str, float | None]:
    tp, fp = int((y & p).sum()), int((~y & p).sum())
    fn, tn = int((y & ~p).sum()), int((~y & ~p).sum())
    return {"positives": tp + fn, "tp": tp, "fp": fp, "fn": fn,
            "sensitivity": tp / (tp + fn) if tp + fn else None, "specificity": tn / (tn + fp) if tn + fp else None,
            "f1": 2 * tp / (2 * tp + fp + fn) if tp + fn else None}


def _macro_f1(y: npt.NDArray[np.bool_], p: npt.NDArray[np.bool_]) -> float:
    """Mean F1 over the classes with at least one positive record."""
    scores = [2 * (y[:, k] & p[:, k]).sum() / (2 * (y[:, k] & p[:, k]).sum() + (y[:, k] ^ p[:, k]).sum())
              for k in range(y.shape[1]) if y[:, k].any()]
    return float(np.mean(scores)) if scores else float("nan")


def _bootstrap_ci(y: npt.NDArray[np.bool_], p: npt.NDArray[np.bool_], n: int = 1000) -> list[float] | None:
    """Percentile bootstrap 95 % interval of the macro F1 over records; None when undefined."""
    rng = np.random.default_rng(0)
    draws = np.array([_macro_f1(y[idx], p[idx]) for idx in (rng.integers(0, len(y), len(y)) for _ in range(n))])
    draws = draws[np.isfinite(draws)]
    return [float(np.percentile(draws, 2.5)), float(np.percentile(draws, 97.5))] if draws.size else None


def _predict_rows(folder: Path, rows: list[dict[str, str]], model: Any) -> list[set[str]]:
    from models.ecg_cnn import FS, LEADS
    from models.ecg_train import read_labelled
    from pipelines.ecg_preread import preread_12lead
    from sharedcenter.ecg.record import EcgRecord

    out = []
    for row in rows:
        signal = read_labelled(folder, row)
        record = EcgRecord(np.ascontiguousarray(signal.T), FS, LEADS, "labelled")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            out.append({f.code for f in preread_12lead(record, model).findings})
    return out


@eval_.command("ecg12")
@click.argument("folder", type=_DIR)
@click.option("--model", "model_path", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="weights file (default: the shipped weights)")
@click.option("--no-model", is_flag=True, help="criteria statements only")
@click.option("--limit", type=int, default=None, help="evaluate only the first N eligible records")
@click.option("--json", "as_json", is_flag=True, help="print the summary as JSON on the last line")
def ecg12(folder: Path, model_path: Path | None, no_model: bool, limit: int | None, as_json: bool) -> None:
    """Statements against the cpsc9_* flags of FOLDER/labels.csv, leaving out the model's training records.

    Atrial flutter and complete AV block, outside the 9 classes, are scored against the SNOMED CT codes of
    the ``dx_snomed`` column (``other_statements`` in the JSON).
    """
    from models.ecg_cnn import load_classifier

    model = None if no_model else load_classifier(model_path)
    trained = set(model.train_records) if model is not None else set()
    with (folder / "labels.csv").open(newline="") as handle:
        rows = [r for r in csv.DictReader(handle) if r["record"] not in trained][:limit]
    y = np.array([[r.get(f"cpsc9_{c}") == "1" for c in CPSC9_CODES] for r in rows], dtype=bool)
    called = _predict_rows(folder, rows, model)
    p = np.array([[bool(codes & CPSC9_CODES[c]) for c in CPSC9_CODES] for codes in called],
                 dtype=bool).reshape(len(rows), len(CPSC9_CODES))
    classes = {c: _class_figures(y[:, k], p[:, k]) for k, c in enumerate(CPSC9_CODES)}
    other = {name: _class_figures(np.array([snomed in r.get("dx_snomed", "").split(";") for r in rows], dtype=bool),
                                  np.array([bool(codes & statements) for codes in called], dtype=bool))
             for name, (snomed, statements) in OTHER_CODES.items()}
    summary = {"n": len(rows), "excluded_training_records": len(trained),
               "model": None if model is None else model.version, "classes": classes,
               "macro_f1": _nan_to_none(_macro_f1(y, p)), "macro_f1_ci95": _bootstrap_ci(y, p),
               "other_statements": other}
    for name, figures in classes.items():
        click.echo(f"{name}: n+={figures['positives']} Se={figures['sensitivity']} Sp={figures['specificity']} "
                   f"F1={figures['f1']}")
    click.echo(json.dumps(summary) if as_json else f"n={len(rows)} macro F1 {summary['macro_f1']}")


def _nan_to_none(value: float) -> float | None:
    return value if np.isfinite(value) else None
