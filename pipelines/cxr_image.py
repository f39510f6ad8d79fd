"""Pre-processing of the chest radiograph pre-read: pick the frontal chest image and decode it.

Decoding reuses :func:`sharedcenter.imaging.render.decode_frames` (modality LUT, VOI LUT Sequence
or the file's window, MONOCHROME1), so the model sees the image as the reading station shows it.
"""

from __future__ import annotations

import dataclasses
import io
import logging
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
import pydicom
from pydicom.dataset import Dataset

from sharedcenter.errors import InvalidInput
from sharedcenter.imaging.render import Frame, decode_frames

__all__ = ["CXR_MODALITIES", "FRONTAL_VIEWS", "LATERAL_VIEWS", "PROJECTION_SOP_CLASSES", "CxrImage", "display_of",
           "select_chest_image"]

logger = logging.getLogger(__name__)

#: Modalities of a chest radiograph.
CXR_MODALITIES = frozenset({"CR", "DX"})
FRONTAL_VIEWS = frozenset({"PA", "AP"})
LATERAL_VIEWS = frozenset({"LL", "RL", "LATERAL", "L", "LLD", "RLD"})
_SECONDARY_CAPTURE = "1.2.840.10008.5.1.4.1.1.7"
#: CR Image Storage and Digital X-Ray Image Storage (for presentation, for processing).
PROJECTION_SOP_CLASSES = frozenset({"1.2.840.10008.5.1.4.1.1.1", "1.2.840.10008.5.1.4.1.1.1.1",
                                    "1.2.840.10008.5.1.4.1.1.1.1.1"})
#: Modalities that must never be read as a chest radiograph, even inside a CR/DX study.
_CROSS_SECTIONAL = frozenset({"CT", "MR", "PT", "NM", "US"})


@dataclasses.dataclass(frozen=True, slots=True)
class CxrImage:
    """The chosen image: its header and its display values (2-D, 0 black .. 1 white)."""

    header: Dataset
    display: npt.NDArray[np.float32]
    modality: str
    view: str
    body_part: str
    sop_instance_uid: str
    stored: npt.NDArray[np.float32] | None = None


def _header(data: bytes) -> Dataset | None:
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except (pydicom.errors.InvalidDicomError, ValueError, TypeError, EOFError, OSError) as exc:
        logger.info("instance skipped, not DICOM: %s", exc)
        return None


def _view(ds: Dataset) -> str:
    return str(ds.get("ViewPosition", "") or "").strip().upper()


def _rank(ds: Dataset) -> int:
    """0 PA, 1 AP, 2 no view given, 3 lateral and others."""
    return {"PA": 0, "AP": 1, "": 2}.get(_view(ds), 3)


def _is_image(ds: Dataset, data: bytes) -> bool:
    return str(ds.get("SOPClassUID", "")) != _SECONDARY_CAPTURE and b"\xe0\x7f\x10\x00" in data


def select_chest_image(instances: Sequence[bytes]) -> tuple[bytes, Dataset]:
    """The study's frontal chest radiograph (PA before AP before no view before lateral).

    Raises
    ------
    InvalidInput
        No instance is a CR/DX image with pixel data, or the study also holds an image of another
        kind (a CT by Modality or by SOP class, even one labelled CR): the reason names it.
    """
    headers = [(data, _header(data)) for data in instances]
    parsed = [(data, ds) for data, ds in headers if ds is not None]
    images = [(data, ds) for data, ds in parsed if _is_image(ds, data)]
    candidates = [(data, ds) for data, ds in images if str(ds.get("Modality", "")) in CXR_MODALITIES]
    if not candidates:
        raise InvalidInput(_no_candidate_reason(len(instances), parsed, images))
    for _, ds in images:
        _refuse_foreign(ds)
    return min(candidates, key=lambda pair: _rank(pair[1]))


def _refuse_foreign(ds: Dataset) -> None:
    """A CT (or other cross-sectional) image in a chest radiograph study is refused, not read as one."""
    modality = str(ds.get("Modality", "")) or "?"
    sop_class = pydicom.uid.UID(str(ds.get("SOPClassUID", "")))
    if modality in _CROSS_SECTIONAL or (modality in CXR_MODALITIES and sop_class not in PROJECTION_SOP_CLASSES):
        raise InvalidInput(f"the study holds a {sop_class.name or sop_class or 'no SOP class'} image with Modality "
                           f"{modality} (instance {ds.get('SOPInstanceUID', '?')}), not a chest radiograph (CR/DX)")


def _no_candidate_reason(total: int, parsed: Sequence[tuple[bytes, Dataset]],
                         images: Sequence[tuple[bytes, Dataset]]) -> str:
    if not parsed:
        return f"none of the {total} instance(s) is readable DICOM"
    if not images:
        return "the study has no image with pixel data"
    found = sorted({str(ds.get("Modality", "")) or "?" for _, ds in images})
    return f"no chest radiograph (CR/DX) in the study; its images are {'/'.join(found)}"


def _display(frame: Frame) -> npt.NDArray[np.float32]:
    """The frame at its default window, 0 black .. 1 white, MONOCHROME1 inverted."""
    window = frame.default_window
    low = window.center - 0.5 - (window.width - 1) / 2
    shown = np.clip((frame.values - low) / max(window.width - 1, 1.0), 0.0, 1.0)
    if frame.photometric == "MONOCHROME1":
        shown = 1.0 - shown
    return np.asarray(shown, dtype=np.float32)


def display_of(data: bytes, ds: Dataset) -> CxrImage:
    """Decode the first frame of ``data`` for the pre-read.

    Raises
    ------
    InvalidInput
        The pixel data is missing, corrupt, or in a syntax no installed codec decodes.
    """
    try:
        frame = decode_frames(data)[0]
    except InvalidInput:
        raise
    except Exception as exc:  # codec plugins raise many types for corrupt streams; all mean "cannot decode"
        raise InvalidInput(f"the image cannot be decoded: {type(exc).__name__}: {exc}") from exc
    return CxrImage(ds, _display(frame), str(ds.get("Modality", "")), _view(ds),
                    str(ds.get("BodyPartExamined", "") or "").strip().upper(),
                    str(ds.get("SOPInstanceUID", "")), frame.values)
