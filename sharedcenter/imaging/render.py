"""Frames of a DICOM image as 8-bit pictures: modality LUT, VOI LUT or window/level, MONOCHROME1.

The pipeline for a greyscale frame is the DICOM one: stored values -> modality LUT (rescale
slope/intercept or a Modality LUT Sequence) -> VOI (the caller's window, else the VOI LUT Sequence,
else the file's Window Center/Width, else the 1st-99th percentiles) -> presentation (MONOCHROME1
is inverted).  Colour frames are passed through.  Nothing here knows about HTTP or the database.
"""

from __future__ import annotations

import dataclasses
import io
from typing import Any

import numpy as np
import numpy.typing as npt
import pydicom
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.encaps import generate_frames
from pydicom.pixels.processing import apply_modality_lut, apply_voi_lut

from sharedcenter.errors import InvalidInput
from sharedcenter.imaging._j2k import check_j2k_codestream

__all__ = ["CHEST_PRESETS", "MAX_FRAME_PIXELS", "Frame", "Window", "check_frame_size", "decode_frames",
           "preset_window", "render_png", "to_png"]

FloatArray = npt.NDArray[np.float32]
#: Largest frame decoded (64 megapixels; a 43x43 cm detector at 0.1 mm is ~18.5 MP).  Bigger
#: claims are refused from the header, before a codec allocates gigabytes or dies on them.
MAX_FRAME_PIXELS = 64_000_000
#: JPEG 2000 Image Compression (Lossless Only) and JPEG 2000 Image Compression.
_J2K_SYNTAXES = frozenset({"1.2.840.10008.1.2.4.90", "1.2.840.10008.1.2.4.91"})


def check_frame_size(ds: Dataset) -> None:
    """Refuse, from the header alone, an image whose frame size is missing, empty or too large.

    Raises
    ------
    InvalidInput
        Rows or Columns is missing or zero, or Rows x Columns is over :data:`MAX_FRAME_PIXELS`.
    """
    try:
        rows, columns = int(ds.get("Rows") or 0), int(ds.get("Columns") or 0)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the image's Rows/Columns are unreadable: {exc}") from exc
    if rows <= 0 or columns <= 0:
        raise InvalidInput(f"the image has no size (Rows {rows}, Columns {columns})")
    if rows * columns > MAX_FRAME_PIXELS:
        raise InvalidInput(f"the image is {columns}x{rows} pixels ({rows * columns / 1e6:.0f} megapixels), over the "
                           f"{MAX_FRAME_PIXELS // 1_000_000} megapixel limit; not decoded")


@dataclasses.dataclass(frozen=True, slots=True)
class Window:
    """A VOI window: ``center`` and ``width`` in modality units (HU for CT)."""

    center: float
    width: float

    def __post_init__(self) -> None:
        if not self.width > 0:
            raise InvalidInput(f"window width must be positive, got {self.width}")


@dataclasses.dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame after the modality LUT, with what the viewer needs to present it."""

    values: FloatArray
    photometric: str
    default_window: Window
    pixel_spacing_mm: tuple[float, float] | None
    modality: str
    rgb: npt.NDArray[np.uint8] | None = None
    sop_instance_uid: str = ""

    @property
    def rows(self) -> int:
        return int(self.values.shape[0])

    @property
    def columns(self) -> int:
        return int(self.values.shape[1])

    def info(self) -> dict[str, Any]:
        """What the viewer's page needs: size, spacing, default window, photometric."""
        return {"rows": self.rows, "columns": self.columns, "photometric": self.photometric,
                "modality": self.modality, "pixel_spacing_mm": self.pixel_spacing_mm,
                "window": {"center": self.default_window.center, "width": self.default_window.width},
                "value_range": [float(self.values.min()), float(self.values.max())]}


#: Chest presets.  CT (Hounsfield units) uses the usual absolute windows; a projection radiograph
#: has no absolute scale, so its presets are percentiles of the image's own values.
CHEST_PRESETS: dict[str, dict[str, tuple[float, float]]] = {
    "lung": {"ct": (-600.0, 1500.0), "percentile": (1.0, 99.0)},
    "mediastinum": {"ct": (40.0, 400.0), "percentile": (35.0, 99.5)},
    "bone": {"ct": (400.0, 1800.0), "percentile": (0.1, 99.95)},
}


def _spacing(ds: Dataset) -> tuple[float, float] | None:
    for keyword in ("PixelSpacing", "ImagerPixelSpacing"):
        value = ds.get(keyword)
        if value is not None and len(value) == 2 and float(value[0]) > 0 and float(value[1]) > 0:
            return float(value[0]), float(value[1])
    return None


def _percentile_window(values: FloatArray, low: float, high: float) -> Window:
    lo, hi = (float(v) for v in np.percentile(values[::4, ::4], [low, high]))
    return Window((lo + hi) / 2, max(hi - lo, 1.0))


def _first(value: Any) -> float:
    return float(value[0]) if isinstance(value, pydicom.multival.MultiValue) else float(value)


def _file_window(ds: Dataset, values: FloatArray) -> Window:
    center, width = ds.get("WindowCenter"), ds.get("WindowWidth")
    if center is not None and width is not None and _first(width) > 0:
        return Window(_first(center), _first(width))
    return _percentile_window(values, 1.0, 99.0)


def _voi_lut_values(ds: Dataset, values: FloatArray) -> FloatArray:
    """Apply a VOI LUT Sequence when the file has one (its output becomes the values to window)."""
    if "VOILUTSequence" not in ds:
        return values
    return np.asarray(apply_voi_lut(values.astype(np.int64), ds, prefer_lut=True), dtype=np.float32)


def _check_codestreams(ds: Dataset) -> None:
    """JPEG 2000 frames are checked for truncation and garbling first (OpenJPEG decodes many silently)."""
    if "PixelData" not in ds or str(ds.file_meta.get("TransferSyntaxUID", "")) not in _J2K_SYNTAXES:
        return
    frames_n = int(ds.get("NumberOfFrames", 1) or 1)
    for frame in generate_frames(ds.PixelData, number_of_frames=frames_n):
        check_j2k_codestream(frame)


def decode_frames(data: bytes) -> list[Frame]:
    """Decode every frame of a DICOM image file.

    Raises
    ------
    InvalidInput
        The file has no pixel data, pixel data that cannot be decoded here, or a frame over
        :data:`MAX_FRAME_PIXELS` (refused before decoding).
    """
    try:
        ds = pydicom.dcmread(io.BytesIO(data))
        check_frame_size(ds)
        _check_codestreams(ds)
        pixels = ds.pixel_array
    except (AttributeError, ValueError, RuntimeError, NotImplementedError, TypeError) as exc:
        raise InvalidInput(f"the image cannot be decoded: {exc}") from exc
    photometric = str(ds.get("PhotometricInterpretation", "MONOCHROME2"))
    frames_n = int(ds.get("NumberOfFrames", 1) or 1)
    if photometric in ("RGB", "YBR_FULL", "YBR_FULL_422"):
        return _colour_frames(ds, pixels, frames_n)
    stack = pixels if frames_n > 1 else pixels[np.newaxis]
    out = []
    for raw in stack:
        values = _voi_lut_values(ds, np.asarray(apply_modality_lut(raw, ds), dtype=np.float32))
        window = _file_window(ds, values) if "VOILUTSequence" not in ds else _percentile_window(values, 0, 100)
        out.append(Frame(values, photometric, window, _spacing(ds), str(ds.get("Modality", "")),
                         sop_instance_uid=str(ds.get("SOPInstanceUID", ""))))
    return out


def _colour_frames(ds: Dataset, pixels: npt.NDArray[Any], frames_n: int) -> list[Frame]:
    from pydicom.pixels.processing import convert_color_space

    stack = pixels if frames_n > 1 else pixels[np.newaxis]
    out = []
    for raw in stack:
        rgb = raw if ds.PhotometricInterpretation == "RGB" else convert_color_space(raw, "YBR_FULL", "RGB")
        rgb = np.asarray(rgb, dtype=np.uint8)
        grey = rgb.mean(axis=2).astype(np.float32)
        out.append(Frame(grey, "RGB", Window(127.5, 256.0), _spacing(ds), str(ds.get("Modality", "")), rgb,
                         str(ds.get("SOPInstanceUID", ""))))
    return out


def preset_window(frame: Frame, name: str) -> Window:
    """The window of a chest preset (``lung``, ``mediastinum``, ``bone``) for this frame.

    Raises
    ------
    InvalidInput
        An unknown preset name.
    """
    if name not in CHEST_PRESETS:
        raise InvalidInput(f"preset {name!r} is not one of {', '.join(CHEST_PRESETS)}")
    if frame.modality == "CT":
        center, width = CHEST_PRESETS[name]["ct"]
        return Window(center, width)
    low, high = CHEST_PRESETS[name]["percentile"]
    return _percentile_window(frame.values, low, high)


def _greys(frame: Frame, window: Window, invert: bool) -> npt.NDArray[np.uint8]:
    """DICOM's linear VOI function (PS3.3 C.11.2.1.2), then MONOCHROME1 / invert."""
    low = window.center - 0.5 - (window.width - 1) / 2
    scaled = (frame.values - low) / max(window.width - 1, 1.0)
    grey: npt.NDArray[np.uint8] = np.clip(scaled * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if (frame.photometric == "MONOCHROME1") != invert:
        grey = (255 - grey).astype(np.uint8)
    return grey


def to_png(pixels: npt.NDArray[np.uint8], max_size: int | None = None) -> bytes:
    """Encode greys (2-D), RGB or RGBA as PNG, shrunk to ``max_size`` on the long side if given."""
    image = Image.fromarray(pixels)
    if max_size and max(image.size) > max_size:
        scale = max_size / max(image.size)
        image = image.resize((max(1, round(image.width * scale)), max(1, round(image.height * scale))),
                             Image.Resampling.BILINEAR)
    out = io.BytesIO()
    image.save(out, format="PNG", compress_level=1)
    return out.getvalue()


def render_png(frame: Frame, window: Window | None = None, *, invert: bool = False,
               max_size: int | None = None) -> bytes:
    """The frame as a PNG at ``window`` (the frame's default when None)."""
    if frame.rgb is not None:
        return to_png(frame.rgb, max_size)
    return to_png(_greys(frame, window or frame.default_window, invert), max_size)
