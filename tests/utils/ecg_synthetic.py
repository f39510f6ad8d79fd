"""Synthetic 12-lead ECGs with a known rhythm: complete heart block and its look-alikes, runs of wide
ventricular beats, atrial flutter with a fixed or variable block.

neurokit2's ``ecg_simulate`` makes sinus beats only, with P and QRS always coupled, so it cannot make
a complete heart block.  These records are constructed instead (hand-written for that reason): each
wave (P, Q, R, S, T) is a Gaussian of a cardiac dipole projected on the 12 lead axes, and the P waves
and QRS-T complexes are placed on their own time lines.  The shapes are textbook-plausible, not
any patient's; they test the logic of the rhythm rules, never the accuracy of the measurements.

Every record starts with a QRS (at 0.3 s) before its first P wave: neurokit2's Pan-Tompkins port
starts its signal-peak estimate at zero with no learning phase, so on a clean constructed record
whose first wave is a P wave it locks onto the P waves (real recordings rarely start that cleanly).
"""

from __future__ import annotations

import dataclasses

import numpy as np
import numpy.typing as npt

from sharedcenter.ecg.record import EcgRecord

__all__ = ["LEADS", "atrial_flutter", "complete_heart_block", "second_degree_2to1", "sinus_rhythm",
           "sinus_with_wide_qrs", "synthetic_ecg", "ventricular_run", "wide_complex_tachycardia"]

LEADS = ("I", "II", "III", "aVR", "aVL", "aVF", "V1", "V2", "V3", "V4", "V5", "V6")
#: Approximate lead axes (x left, y inferior, z anterior).
_AXES = np.array([
    (1.0, 0.0, 0.0), (0.5, 0.866, 0.0), (-0.5, 0.866, 0.0), (-0.866, -0.5, 0.0), (0.866, -0.5, 0.0),
    (0.0, 1.0, 0.0), (-0.5, 0.0, 0.85), (0.0, 0.0, 1.0), (0.4, 0.0, 0.9), (0.7, 0.0, 0.7), (0.9, 0.0, 0.4),
    (1.0, 0.0, 0.1),
])
#: (offset from R in s, width s, amplitude mV, dipole direction) of the ventricular waves.
_QRST = (
    (-0.025, 0.008, 0.15, (-0.3, -0.2, 0.8)),   # septal q / r in V1
    (0.0, 0.011, 1.3, (0.7, 0.6, -0.4)),        # R
    (0.03, 0.010, 0.4, (-0.3, -0.3, 0.9)),      # S / terminal forces
    (0.30, 0.055, 0.35, (0.6, 0.6, 0.3)),       # T
)
_P = (0.025, 0.15, (0.5, 0.8, 0.2))
#: The waves of a ventricular beat (left ventricular origin, RBBB-like): a slow, wide QRS (about 160 ms)
#: of another axis and a T wave opposite to it.
_VENTRICULAR_QRST = (
    (-0.02, 0.028, 1.2, (-0.6, -0.4, 0.6)),
    (0.045, 0.025, 0.6, (0.2, -0.7, 0.6)),
    (0.30, 0.07, 0.45, (0.5, 0.4, -0.6)),
)


def _wave(t: npt.NDArray[np.float64], centre: float, width: float, amplitude: float,
          direction: tuple[float, float, float]) -> npt.NDArray[np.float64]:
    unit = np.asarray(direction) / np.linalg.norm(direction)
    return np.outer(amplitude * np.exp(-0.5 * ((t - centre) / width) ** 2), _AXES @ unit)


def synthetic_ecg(p_times: npt.ArrayLike, r_times: npt.ArrayLike, *, duration_s: float = 10.0,
                  fs: float = 500.0, noise_mv: float = 0.01, seed: int = 0,
                  v_times: npt.ArrayLike = ()) -> EcgRecord:
    """A 12-lead record with P waves at ``p_times``, QRS-T complexes (R peak) at ``r_times`` and wide
    ventricular QRS-T complexes at ``v_times`` (s)."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(duration_s * fs)) / fs
    signal = np.zeros((t.size, len(LEADS)))
    for p in np.asarray(p_times, dtype=float):
        signal += _wave(t, p, *_P)
    for times, waves in ((r_times, _QRST), (v_times, _VENTRICULAR_QRST)):
        for r in np.asarray(times, dtype=float):
            for offset, width, amplitude, direction in waves:
                signal += _wave(t, r + offset, width, amplitude, direction)
    signal += rng.normal(0.0, noise_mv, signal.shape)
    signal += 0.05 * np.sin(2 * np.pi * 0.2 * t + rng.uniform(0, 6.28))[:, None]
    return EcgRecord(signal.astype(np.float32), fs, LEADS, "synthetic")


def complete_heart_block(atrial_bpm: float = 78.0, ventricular_bpm: float = 38.0, **kwargs: float) -> EcgRecord:
    """Third-degree AV block: regular P waves and a regular slower escape rhythm, independent phases."""
    p_times = np.arange(0.55, 10.0, 60.0 / atrial_bpm)
    r_times = np.arange(0.3, 9.8, 60.0 / ventricular_bpm)
    return synthetic_ecg(p_times, r_times, **kwargs)  # type: ignore[arg-type]


def sinus_rhythm(bpm: float = 72.0, pr_s: float = 0.16, **kwargs: float) -> EcgRecord:
    """Every P wave conducted at a fixed PR."""
    r_times = np.arange(0.3, 9.8, 60.0 / bpm)
    return synthetic_ecg(r_times[1:] - pr_s, r_times, **kwargs)  # type: ignore[arg-type]


def second_degree_2to1(atrial_bpm: float = 80.0, pr_s: float = 0.16, **kwargs: float) -> EcgRecord:
    """2:1 AV block: every other P wave conducted at a fixed PR; slow and regular, but not dissociated."""
    p_times = np.arange(0.14, 9.6, 60.0 / atrial_bpm)
    return synthetic_ecg(p_times[1:], p_times[::2] + pr_s, **kwargs)  # type: ignore[arg-type]


def ventricular_run(bpm: float = 70.0, run_bpm: float = 160.0, beats: int = 5, start_s: float = 4.5,
                    **kwargs: float) -> EcgRecord:
    """Sinus rhythm interrupted by ``beats`` consecutive wide ventricular beats at ``run_bpm`` (a run of
    VT when ``beats`` >= 3 and ``run_bpm`` > 100), the sinus rhythm resuming after a pause.

    The sinus P waves go on through the run (AV dissociation); those that fall in it are not conducted.
    """
    cycle, run_cycle = 60.0 / bpm, 60.0 / run_bpm
    before = np.arange(0.3, start_s - 0.7 * cycle, cycle)
    v_times = before[-1] + 0.7 * cycle + run_cycle * np.arange(beats)
    after = np.arange(v_times[-1] + 1.5 * cycle, 9.8, cycle)
    conducted = np.concatenate([before, after])
    return synthetic_ecg(conducted[1:] - 0.16, conducted, v_times=v_times, **kwargs)  # type: ignore[arg-type]


def wide_complex_tachycardia(bpm: float = 150.0, atrial_bpm: float | None = 75.0, **kwargs: float) -> EcgRecord:
    """Sustained monomorphic VT: every beat a wide ventricular QRS-T at a regular ``bpm``; sinus P waves
    at ``atrial_bpm`` go on independently (AV dissociation), or none when ``None``."""
    v_times = np.arange(0.3, 9.8, 60.0 / bpm)
    p_times = () if atrial_bpm is None else np.arange(0.45, 9.8, 60.0 / atrial_bpm)
    return synthetic_ecg(p_times, (), v_times=v_times, **kwargs)  # type: ignore[arg-type]


def sinus_with_wide_qrs(bpm: float = 110.0, pr_s: float = 0.20, **kwargs: float) -> EcgRecord:
    """Sinus tachycardia with a wide QRS (as with a bundle branch block): every QRS is the wide ventricular
    complex, each after a sinus P wave ``pr_s`` before its R peak (the wide QRS starts about 60 ms before
    the R peak, so the P-to-QRS-onset interval is about ``pr_s`` - 0.06 s)."""
    v_times = np.arange(0.3, 9.8, 60.0 / bpm)
    return synthetic_ecg(v_times[1:] - pr_s, (), v_times=v_times, **kwargs)  # type: ignore[arg-type]


def atrial_flutter(atrial_bpm: float = 300.0, ratios: tuple[int, ...] = (2, 4, 2, 3, 4, 2, 3),
                   amplitude_mv: float = 0.2, fs: float = 500.0, **kwargs: float) -> EcgRecord:
    """Typical flutter: a sawtooth at ``atrial_bpm`` (negative in II, III, aVF, positive in V1) with the
    QRS conducted after every ``ratios[i]``-th F wave in turn (variable block; ``(2,)``: 2:1) at 0.22 s."""
    cycle = 60.0 / atrial_bpm
    waves, r_times, n = np.arange(0.1, 10.0, cycle), [], 0
    while True:
        n += ratios[len(r_times) % len(ratios)]
        if n >= waves.size or waves[n] + 0.22 > 9.8:
            break
        r_times.append(waves[n] + 0.22)
    record = synthetic_ecg((), [0.3, *r_times], fs=fs, **kwargs)  # type: ignore[arg-type]
    t = np.arange(record.n_samples) / fs
    phase = (t / cycle) % 1.0
    sawtooth = amplitude_mv * np.where(phase < 0.75, phase / 0.75, (1.0 - phase) / 0.25)  # slow rise, fast fall
    unit = np.array([0.1, -0.9, -0.4]) / np.linalg.norm([0.1, -0.9, -0.4])
    waves_mv = np.outer(sawtooth - sawtooth.mean(), _AXES @ unit)
    return dataclasses.replace(record, signal=(record.signal + waves_mv).astype(np.float32))

