"""The picture on a report: a key image of an imaging study or a lead II rhythm strip of an ECG.

Both come out as PNG bytes for the PDF; failure to draw one never blocks signing (the caller
gets ``None`` and the report says the picture is unavailable).
"""

from __future__ import annotations

import io
import json
import logging

import numpy as np
import numpy.typing as npt
import pydicom
from PIL import Image, ImageDraw
from pydicom.errors import InvalidDicomError

from sharedcenter.db.models import Study
from sharedcenter.ecg.read import read_ecg
from sharedcenter.ecg.record import EcgRecord
from sharedcenter.errors import SharedCenterError
from sharedcenter.services import Services

__all__ = ["ecg_strip_png", "key_image_png", "study_figure"]

logger = logging.getLogger(__name__)

_STRIP_SECONDS = 10.0
_PX_PER_MM = 4  # 25 mm/s, 10 mm/mV, 4 px per mm


def key_image_png(dicom: bytes, max_side: int = 512) -> bytes:
    """The first frame of a DICOM image, windowed to its 1st-99th percentile, as a grey PNG.

    Raises
    ------
    ValueError
        ``dicom`` is not an image this can draw.
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(dicom))
        pixels = np.asarray(ds.pixel_array, dtype=np.float32)
    except (InvalidDicomError, AttributeError, ValueError, RuntimeError) as exc:
        raise ValueError(f"dicom: no drawable pixel data ({exc})") from exc
    if pixels.ndim == 3 and pixels.shape[-1] not in (3, 4):
        pixels = pixels[0]
    if pixels.ndim == 3:
        pixels = pixels.mean(axis=-1)
    low, high = np.percentile(pixels, [1, 99])
    scaled = np.clip((pixels - low) / max(float(high - low), 1e-6), 0, 1)
    if getattr(ds, "PhotometricInterpretation", "") == "MONOCHROME1":
        scaled = 1 - scaled
    image = Image.fromarray((scaled * 255).astype(np.uint8), mode="L")
    image.thumbnail((max_side, max_side))
    return _png(image)


def ecg_strip_png(record: EcgRecord, lead: str = "II") -> bytes:
    """A rhythm strip at 25 mm/s and 10 mm/mV on ECG paper (1 mm and 5 mm grid)."""
    index = record.leads.index(lead) if lead in record.leads else 0
    samples = record.signal[: int(_STRIP_SECONDS * record.fs), index]
    width, height = int(_STRIP_SECONDS * 25 * _PX_PER_MM), 30 * _PX_PER_MM
    image = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(image)
    _grid(draw, width, height)
    draw.line(_trace(samples, record.fs, height), fill="black", width=2)
    draw.text((6, 4), record.leads[index], fill="black")
    return _png(image)


def _grid(draw: ImageDraw.ImageDraw, width: int, height: int) -> None:
    for mm in range(0, max(width, height) // _PX_PER_MM + 1):
        colour = (240, 150, 150) if mm % 5 == 0 else (250, 215, 215)
        if mm * _PX_PER_MM <= width:
            draw.line([(mm * _PX_PER_MM, 0), (mm * _PX_PER_MM, height)], fill=colour)
        if mm * _PX_PER_MM <= height:
            draw.line([(0, mm * _PX_PER_MM), (width, mm * _PX_PER_MM)], fill=colour)


def _trace(samples: npt.NDArray[np.float32], fs: float, height: int) -> list[tuple[float, float]]:
    baseline = float(np.median(samples)) if samples.size else 0.0
    x = np.arange(samples.size) / fs * 25 * _PX_PER_MM
    y = height / 2 - (samples - baseline) * 10 * _PX_PER_MM
    return list(zip(x.tolist(), np.clip(y, 0, height - 1).tolist(), strict=True))


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG", optimize=True)
    return out.getvalue()


def study_figure(services: Services, study: Study) -> bytes | None:
    """The study's key image or ECG strip, or ``None`` when it cannot be drawn (logged)."""
    try:
        if study.ecg_record_key:
            manifest = json.loads(services.object_store.get(f"ecg/records/{study.ecg_record_key}.json"))
            files = {name: services.object_store.get(f"ecg/original/{sha}") for name, sha in manifest["files"].items()}
            return ecg_strip_png(read_ecg(files))
        if study.study_instance_uid:
            for data in services.dicom_store.iter_study(study.study_instance_uid):
                return key_image_png(data)
    except (SharedCenterError, ValueError, KeyError) as exc:
        logger.warning("no figure for study %s: %s", study.id, exc)
    return None
