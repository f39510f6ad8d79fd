"""A structural check of JPEG 2000 codestreams before they are decoded.

Hand-written because OpenJPEG (through pylibjpeg-openjpeg and Pillow alike) is error resilient and
does not expose its strict mode there: a truncated or garbled stream often "decodes" without any error
into a damaged picture, which the pre-read must not read as a chest radiograph.  The check follows
ITU-T T.800 (JPEG 2000 Part 1): a codestream starts with SOC+SIZ, ends with EOC, each tile-part is
SOT ... SOD then packet data of the length its SOT declares, and in packet data a 0xFF byte is never
followed by a byte of 0x90 or more (bit stuffing, Annex D.5) except for the SOP/EPH markers.  A
corruption that keeps this syntax decodes to a damaged image; the quality gate then sees that.
"""

from __future__ import annotations

import re
import struct

from sharedcenter.errors import InvalidInput

__all__ = ["check_j2k_codestream"]

_SOC, _SIZ, _SOT, _SOD, _EOC = 0xFF4F, 0xFF51, 0xFF90, 0xFF93, 0xFFD9
_JP2_SIGNATURE = b"\x00\x00\x00\x0cjP  \r\n\x87\n"
_FORBIDDEN = re.compile(rb"\xff[\x90\x93-\xff]")  # 0xFF91 SOP and 0xFF92 EPH may occur in packet data


def _codestream(data: bytes) -> bytes:
    """The raw codestream, unwrapped from a JP2 file's ``jp2c`` box when it has one."""
    if not data.startswith(_JP2_SIGNATURE):
        return data
    at = data.find(b"jp2c")
    if at < 4:
        raise InvalidInput("the JPEG 2000 file has no codestream box")
    return data[at + 4:]


def check_j2k_codestream(data: bytes) -> None:
    """Refuse a JPEG 2000 stream that is truncated or whose packet data holds illegal markers.

    Raises
    ------
    InvalidInput
        The reason names what is wrong and where.
    """
    stream = _codestream(data).rstrip(b"\x00")  # DICOM pads odd fragments with one zero byte
    if len(stream) < 4 or struct.unpack(">HH", stream[:4]) != (_SOC, _SIZ):
        raise InvalidInput("the JPEG 2000 stream does not start with SOC and SIZ markers")
    if stream[-2:] != b"\xff\xd9":
        raise InvalidInput(f"the JPEG 2000 stream is truncated: no EOC marker at its end ({len(stream)} bytes)")
    at = stream.find(b"\xff\x90")
    if at < 0:
        raise InvalidInput("the JPEG 2000 stream has no tile-part (SOT marker)")
    while at < len(stream) - 2:
        at = _tile_part(stream, at)


def _tile_part(stream: bytes, at: int) -> int:
    """Check the tile-part whose SOT starts at ``at``; return where the next marker starts."""
    if len(stream) < at + 12 or struct.unpack(">H", stream[at:at + 2])[0] != _SOT:
        raise InvalidInput(f"the JPEG 2000 stream is corrupt: expected a tile-part (SOT) at byte {at}")
    psot = struct.unpack(">I", stream[at + 6:at + 10])[0]
    end = len(stream) - 2 if psot == 0 else at + psot
    if end > len(stream) - 2:
        raise InvalidInput(f"the JPEG 2000 stream is truncated: a tile-part at byte {at} declares {psot} bytes")
    sod = stream.find(b"\xff\x93", at + 12, end)
    if sod < 0:
        raise InvalidInput(f"the JPEG 2000 stream is corrupt: the tile-part at byte {at} has no SOD marker")
    bad = _FORBIDDEN.search(stream, sod + 2, end)
    if bad is not None:
        raise InvalidInput(f"the JPEG 2000 stream is corrupt: marker 0x{stream[bad.start():bad.start() + 2].hex()} "
                           f"inside packet data at byte {bad.start()}")
    return end
