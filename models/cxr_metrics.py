"""Binary classifier figures with bootstrap confidence intervals (numpy only)."""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

__all__ = ["auroc", "bootstrap_ci", "sensitivity_specificity", "summary"]

Array = npt.NDArray[np.floating] | npt.NDArray[np.integer] | npt.NDArray[np.bool_]


def auroc(labels: Array, scores: Array) -> float | None:
    """Area under the ROC curve (Mann-Whitney, ties count half); None with only one class."""
    y = np.asarray(labels).astype(bool)
    s = np.asarray(scores, dtype=np.float64)
    pos, neg = s[y], s[~y]
    if pos.size == 0 or neg.size == 0:
        return None
    greater = (pos[:, None] > neg[None, :]).sum() + 0.5 * (pos[:, None] == neg[None, :]).sum()
    return float(greater / (pos.size * neg.size))


def sensitivity_specificity(labels: Array, scores: Array, threshold: float) -> tuple[float | None, float | None]:
    """Sensitivity and specificity of ``scores >= threshold``; None where a class is absent."""
    y = np.asarray(labels).astype(bool)
    flagged = np.asarray(scores, dtype=np.float64) >= threshold
    sens = float(flagged[y].mean()) if y.any() else None
    spec = float((~flagged[~y]).mean()) if (~y).any() else None
    return sens, spec


def bootstrap_ci(labels: Array, scores: Array, threshold: float, rounds: int = 1000,
                 seed: int = 0) -> dict[str, list[float] | None]:
    """95 % percentile bootstrap intervals of AUROC, sensitivity and specificity (images resampled)."""
    y, s = np.asarray(labels).astype(bool), np.asarray(scores, dtype=np.float64)
    rng = np.random.default_rng(seed)
    values: dict[str, list[float]] = {"auroc": [], "sensitivity": [], "specificity": []}
    for _ in range(rounds):
        index = rng.integers(0, y.size, y.size)
        area = auroc(y[index], s[index])
        sens, spec = sensitivity_specificity(y[index], s[index], threshold)
        for name, value in (("auroc", area), ("sensitivity", sens), ("specificity", spec)):
            if value is not None:
                values[name].append(value)
    return {name: ([float(np.percentile(v, 2.5)), float(np.percentile(v, 97.5))] if v else None)
            for name, v in values.items()}


def summary(labels: Array, scores: Array, threshold: float, rounds: int = 1000) -> dict[str, object]:
    """n, positives, AUROC, sensitivity, specificity at ``threshold`` and their 95 % CIs."""
    y = np.asarray(labels).astype(bool)
    sens, spec = sensitivity_specificity(y, scores, threshold)
    return {"n": int(y.size), "positives": int(y.sum()), "auroc": auroc(y, scores), "sensitivity": sens,
            "specificity": spec, "threshold": threshold, "ci95": bootstrap_ci(y, scores, threshold, rounds)}
