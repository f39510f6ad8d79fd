"""Every usual transfer syntax decodes through pydicom's plugins (pylibjpeg, Pillow), and the
imaging pre-read reports image statistics for it rather than "cannot decode".

Four names of the original list are not in the installed pydicom test data (``JPEG2000_UNC.dcm``,
``JPEG-LL.dcm``, ``JPGLosslessP14SV1_1s_1f_8b.dcm`` are download-only) or hold a stream no codec
reads (``JPEG-lossy.dcm``: a 12-bit JPEG Extended file whose scan header is malformed); each is
replaced by a local file of the same transfer syntax, and the corrupt one is kept as a bad-input case.
"""

from __future__ import annotations

from pathlib import Path

import pydicom
import pytest
from pydicom.data import get_testdata_file
from pydicom.uid import UID

from pipelines.dicom_summary import summarize_study

#: file -> (transfer syntax UID, shape of the decoded pixel array)
CASES: dict[str, tuple[str, tuple[int, ...]]] = {
    "CT_small.dcm": ("1.2.840.10008.1.2.1", (128, 128)),  # explicit VR little endian
    "JPEG2000.dcm": ("1.2.840.10008.1.2.4.91", (1024, 256)),  # JPEG 2000
    "MR_small_jp2klossless.dcm": ("1.2.840.10008.1.2.4.90", (64, 64)),  # JPEG 2000 lossless
    "SC_rgb_rle.dcm": ("1.2.840.10008.1.2.5", (100, 100, 3)),  # RLE, colour
    "MR_small_RLE.dcm": ("1.2.840.10008.1.2.5", (64, 64)),  # RLE, 16-bit signed
    "JPEGLSNearLossless_16.dcm": ("1.2.840.10008.1.2.4.81", (50, 10)),  # JPEG-LS near-lossless
    "MR_small_jpeg_ls_lossless.dcm": ("1.2.840.10008.1.2.4.80", (64, 64)),  # JPEG-LS lossless
    "JPGExtended.dcm": ("1.2.840.10008.1.2.4.51", (1024, 256)),  # JPEG extended, 12-bit
    "SC_rgb_jpeg_gdcm.dcm": ("1.2.840.10008.1.2.4.70", (100, 100, 3)),  # JPEG lossless, process 14 SV1
    "SC_rgb_jpeg_dcmtk.dcm": ("1.2.840.10008.1.2.4.50", (100, 100, 3)),  # JPEG baseline
}


def _path(name: str) -> Path:
    path = get_testdata_file(name)
    assert path is not None, f"{name} is not in the installed pydicom test data: choose another file"
    return Path(path)


@pytest.mark.parametrize("name", sorted(CASES))
def test_pixel_data_decodes(name: str) -> None:
    syntax, shape = CASES[name]
    ds = pydicom.dcmread(_path(name))
    assert ds.file_meta.TransferSyntaxUID == UID(syntax)
    pixels = ds.pixel_array
    assert pixels.shape == shape
    assert pixels.size > 0 and int(pixels.max()) > int(pixels.min())


@pytest.mark.parametrize("name", sorted(CASES))
def test_preread_reports_statistics(name: str) -> None:
    result = summarize_study([_path(name).read_bytes()])
    [image] = result.measurements["images"]
    assert image["decoded"] is True, image.get("reason")
    assert image["transfer_syntax"] == CASES[name][0]
    assert image["max"] > image["min"] and 0.0 <= image["saturated_fraction"] <= 1.0


def test_corrupt_stream_is_reported_not_raised() -> None:
    """A stream no codec reads gives ``decoded: False`` with a reason; the pre-read still completes."""
    result = summarize_study([_path("JPEG-lossy.dcm").read_bytes(), _path("CT_small.dcm").read_bytes()])
    bad, good = result.measurements["images"]
    assert bad["decoded"] is False and bad["reason"].startswith("JPEG Extended")
    assert good["decoded"] is True
