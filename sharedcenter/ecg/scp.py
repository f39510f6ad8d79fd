"""SCP-ECG (EN 1064 / ISO 11073-91064) reader, and a minimal writer for test fixtures.

No maintained Python library reads SCP-ECG, so this module is written by hand from the standard.
Supported: sections 0 (pointers), 1 (patient and acquisition tags), 2 (Huffman: the default
table, code 19999, or no Huffman section at all), 3 (lead definitions, simultaneous leads) and 6
(rhythm data: no difference, first or second differences), CRC-CCITT checked on the file and on
every section.  Not supported (refused with :class:`UnsupportedFormat`): custom Huffman tables,
reference-beat subtraction (sections 4/5 used to rebuild rhythm data), bimodal compression and
leads recorded at different times.  Sections 7-11 (measurements, interpretation) are ignored.
"""

from __future__ import annotations

import binascii
import dataclasses
import datetime as dt
import logging
import struct

import numpy as np
import numpy.typing as npt

from sharedcenter.ecg.read import make_record
from sharedcenter.ecg.record import EcgRecord, FilterSettings
from sharedcenter.errors import InvalidInput, UnsupportedFormat

__all__ = ["SCP_ECG", "crc_ccitt", "read_scp", "write_scp"]

logger = logging.getLogger(__name__)

SCP_ECG = "scp-ecg"
_DEFAULT_HUFFMAN = 19999
#: Section 3 lead identification codes of the standard leads.
_LEAD_CODES = {
    1: "I", 2: "II", 3: "V1", 4: "V2", 5: "V3", 6: "V4", 7: "V5", 8: "V6", 61: "III", 62: "aVR", 63: "aVL", 64: "aVF",
}  # fmt: skip
_CODE_OF_LEAD = {name: code for code, name in _LEAD_CODES.items()}
_MAX_SAMPLES = 10_000_000


def crc_ccitt(data: bytes) -> int:
    """CRC-CCITT (polynomial 0x1021, initial 0xFFFF), as SCP-ECG uses it."""
    return binascii.crc_hqx(data, 0xFFFF)


@dataclasses.dataclass(frozen=True, slots=True)
class _Section:
    id: int
    body: bytes


def _sections(data: bytes) -> dict[int, _Section]:
    """Every section section 0 points to, CRC-checked."""
    if len(data) < 22 or int.from_bytes(data[2:6], "little") != len(data):
        raise InvalidInput("SCP-ECG file length field does not match the file (truncated?)")
    if crc_ccitt(data[2:]) != int.from_bytes(data[:2], "little"):
        raise InvalidInput("SCP-ECG file CRC does not match (corrupt or truncated)")
    pointer = _section_at(data, 7, 0)
    out = {0: pointer}
    for offset in range(0, len(pointer.body) - 9, 10):
        section_id, length, index = struct.unpack_from("<HII", pointer.body, offset)
        if length and section_id != 0:
            out[section_id] = _section_at(data, index, section_id, length)
    return out


def _section_at(data: bytes, index: int, expected: int, length: int | None = None) -> _Section:
    start = index - 1
    if start < 6 or start + 16 > len(data):
        raise InvalidInput(f"SCP-ECG section {expected} starts outside the file (byte {index})")
    crc, section_id, section_length = struct.unpack_from("<HHI", data, start)
    if section_id != expected or section_length < 16 or start + section_length > len(data):
        raise InvalidInput(f"SCP-ECG section {expected} header is corrupt (id {section_id}, length {section_length})")
    if length is not None and length != section_length:
        raise InvalidInput(f"SCP-ECG section {expected} length disagrees with the pointer section")
    if crc_ccitt(data[start + 2 : start + section_length]) != crc:
        raise InvalidInput(f"SCP-ECG section {expected} CRC does not match")
    return _Section(section_id, data[start + 16 : start + section_length])


def _tags(body: bytes) -> dict[int, bytes]:
    """Section 1: tag (1 byte), length (2 bytes), value; tag 255 ends it."""
    tags: dict[int, bytes] = {}
    offset = 0
    while offset + 3 <= len(body):
        tag, length = body[offset], int.from_bytes(body[offset + 1 : offset + 3], "little")
        if tag == 255:
            break
        tags.setdefault(tag, body[offset + 3 : offset + 3 + length])
        offset += 3 + length
    return tags


def _text(value: bytes | None) -> str:
    return value.split(b"\x00", 1)[0].decode("utf-8", errors="replace").strip() if value else ""


def _acquired(tags: dict[int, bytes]) -> dt.datetime | None:
    date, time = tags.get(25, b""), tags.get(26, b"")
    if len(date) < 4 or len(time) < 3:
        return None
    try:
        return dt.datetime(int.from_bytes(date[:2], "little"), date[2], date[3], time[0], time[1], time[2])
    except ValueError:
        return None


def _filters(tags: dict[int, bytes]) -> FilterSettings:
    high = int.from_bytes(tags[27][:2], "little") / 100 if len(tags.get(27, b"")) >= 2 else None
    low = float(int.from_bytes(tags[28][:2], "little")) if len(tags.get(28, b"")) >= 2 else None
    return FilterSettings(highpass_hz=high, lowpass_hz=low)


def _leads(body: bytes) -> tuple[list[str], int]:
    """Section 3: lead names and samples per lead."""
    if len(body) < 2:
        raise InvalidInput("SCP-ECG section 3 (lead definition) is empty")
    count, flags = body[0], body[1]
    if flags & 0x01:
        raise UnsupportedFormat("SCP-ECG with reference beat subtraction is not supported")
    if len(body) < 2 + 9 * count or count == 0:
        raise InvalidInput(f"SCP-ECG section 3 declares {count} leads but holds {max(0, (len(body) - 2) // 9)}")
    spans = [struct.unpack_from("<IIB", body, 2 + 9 * i) for i in range(count)]
    if len({(start, end) for start, end, _ in spans}) != 1:
        raise UnsupportedFormat("SCP-ECG leads recorded at different times are not supported")
    start, end, _ = spans[0]
    if end < start or end - start + 1 > _MAX_SAMPLES:
        raise InvalidInput(f"SCP-ECG section 3 gives an impossible sample range {start}-{end}")
    return [_LEAD_CODES.get(code, f"lead{code}") for _, _, code in spans], end - start + 1


def _huffman_decode(data: bytes, n: int) -> npt.NDArray[np.int64]:
    """Decode ``n`` values with the default SCP-ECG Huffman table (annex C of EN 1064).

    ``0`` is 0; k ones (k = 1..8), a zero and a sign bit are +k or -k; nine ones and a zero
    precede an 8-bit two's complement value; ten ones precede a 16-bit one.
    """
    bits = np.unpackbits(np.frombuffer(data, dtype=np.uint8)).tolist()
    out = np.empty(n, dtype=np.int64)
    pos, total = 0, len(bits)
    for i in range(n):
        ones = 0
        while ones < 10 and pos < total and bits[pos]:
            ones, pos = ones + 1, pos + 1
        width = (1 if ones == 0 else 2) if ones <= 8 else (9 if ones == 9 else 16)
        if pos + width > total:
            raise InvalidInput("SCP-ECG Huffman data ends in the middle of a code (truncated or wrong length)")
        if ones == 0:
            value = 0
        elif ones <= 8:
            value = -ones if bits[pos + 1] else ones
        else:
            raw = int("".join(map(str, bits[pos + (width - 8 if ones == 9 else 0) : pos + width])), 2)
            size = 8 if ones == 9 else 16
            value = raw - (1 << size) if raw >> (size - 1) else raw
        out[i], pos = value, pos + width
    return out


def _undifference(values: npt.NDArray[np.int64], order: int) -> npt.NDArray[np.int64]:
    """Rebuild samples from first (x[n] = d[n] + x[n-1]) or second differences."""
    if order == 0:
        return values
    if order == 1:
        return np.cumsum(values)
    if len(values) < 3:
        return values
    slopes = np.cumsum(np.concatenate([[values[1] - values[0]], values[2:]]))
    return np.concatenate([values[:1], values[0] + np.cumsum(slopes)])


def _rhythm(body: bytes, n_leads: int, n_samples: int, huffman: bool) -> tuple[npt.NDArray[np.float32], float]:
    """Section 6: samples in millivolts and the sampling rate."""
    if len(body) < 6 + 2 * n_leads:
        raise InvalidInput("SCP-ECG section 6 (rhythm data) is truncated")
    avm_nv, interval_us, difference, bimodal = struct.unpack_from("<HHBB", body, 0)
    if bimodal:
        raise UnsupportedFormat("SCP-ECG bimodal compression is not supported")
    if difference > 2 or avm_nv == 0 or interval_us == 0:
        raise InvalidInput(f"SCP-ECG section 6 header is invalid (AVM {avm_nv} nV, interval {interval_us} us)")
    lengths = struct.unpack_from(f"<{n_leads}H", body, 6)
    offset, leads = 6 + 2 * n_leads, []
    for index, length in enumerate(lengths):
        chunk = body[offset : offset + length]
        if len(chunk) < length:
            raise InvalidInput(f"SCP-ECG lead {index + 1} data is truncated")
        if huffman:
            values = _huffman_decode(chunk, n_samples)
        elif length < 2 * n_samples:
            raise InvalidInput(f"SCP-ECG lead {index + 1} holds {length // 2} samples, section 3 promises {n_samples}")
        else:
            values = np.frombuffer(chunk[: 2 * n_samples], dtype="<i2").astype(np.int64)
        leads.append(_undifference(values, difference))
        offset += length
    signal = (np.stack(leads, axis=1).astype(np.float64) * (avm_nv / 1e6)).astype(np.float32)
    return signal, 1e6 / interval_us


def _huffman_used(sections: dict[int, _Section]) -> bool:
    section = sections.get(2)
    if section is None:
        return False
    tables = int.from_bytes(section.body[:2], "little") if len(section.body) >= 2 else 0
    if tables != _DEFAULT_HUFFMAN:
        raise UnsupportedFormat(f"SCP-ECG with custom Huffman tables ({tables}) is not supported; only the default")
    return True


def read_scp(data: bytes) -> EcgRecord:
    """Read an SCP-ECG file into the canonical record.

    Parameters
    ----------
    data
        The file's bytes.

    Returns
    -------
    EcgRecord
        The rhythm leads in millivolts, patient id and name, device, acquisition time and filters
        from section 1.

    Raises
    ------
    UnsupportedFormat
        A feature this reader does not implement (see the module docstring).
    InvalidInput
        Wrong length or CRC, missing or corrupt sections, or lead data shorter than promised.
    """
    try:
        sections = _sections(data)
        if 3 not in sections or 6 not in sections:
            raise InvalidInput("SCP-ECG file has no lead definition (section 3) or rhythm data (section 6)")
        if 4 in sections:
            raise UnsupportedFormat("SCP-ECG with reference beat subtraction (section 4) is not supported")
        names, n_samples = _leads(sections[3].body)
        signal, fs = _rhythm(sections[6].body, len(names), n_samples, _huffman_used(sections))
    except struct.error as exc:
        raise InvalidInput(f"SCP-ECG file is truncated: {exc}") from exc
    tags = _tags(sections[1].body) if 1 in sections else {}
    name = " ".join(part for part in (_text(tags.get(0)), _text(tags.get(1))) if part)
    return make_record(signal, fs, names, SCP_ECG, start_time=_acquired(tags), patient_id=_text(tags.get(2)),
                       patient_name=name, device=_text(tags.get(14)), filters=_filters(tags),
                       metadata={"scp_sections": sorted(sections)})  # fmt: skip


# --- the minimal writer (test fixtures) ----------------------------------------------------------


def _huffman_encode(values: npt.NDArray[np.int64]) -> bytes:
    """Encode with the default table (see :func:`_huffman_decode`)."""
    parts = []
    for value in values.tolist():
        size = abs(value)
        if value == 0:
            parts.append("0")
        elif size <= 8:
            parts.append("1" * size + "0" + ("1" if value < 0 else "0"))
        elif -128 <= value <= 127:
            parts.append("1111111110" + format(value & 0xFF, "08b"))
        else:
            parts.append("1111111111" + format(value & 0xFFFF, "016b"))
    bits = "".join(parts)
    bits += "0" * (-len(bits) % 8)
    return int(bits, 2).to_bytes(len(bits) // 8, "big") if bits else b""


def _section(section_id: int, body: bytes) -> bytes:
    body += b"\x00" * (len(body) % 2)
    rest = struct.pack("<HIBB6s", section_id, 16 + len(body), 20, 20, b"SCPECG") + body
    return struct.pack("<H", crc_ccitt(rest)) + rest


def _tag(tag: int, value: bytes) -> bytes:
    return struct.pack("<BH", tag, len(value)) + value


def _patient_section(record: EcgRecord) -> bytes:
    when = record.start_time or dt.datetime(1900, 1, 1)
    body = _tag(0, record.patient_name.encode() + b"\x00") + _tag(2, record.patient_id.encode() + b"\x00")
    body += _tag(14, record.device.encode()[:40] + b"\x00")
    body += _tag(25, struct.pack("<HBB", when.year, when.month, when.day))
    body += _tag(26, struct.pack("<BBB", when.hour, when.minute, when.second))
    if record.filters.highpass_hz is not None:
        body += _tag(27, struct.pack("<H", round(record.filters.highpass_hz * 100)))
    if record.filters.lowpass_hz is not None:
        body += _tag(28, struct.pack("<H", round(record.filters.lowpass_hz)))
    return body + _tag(255, b"")


def _differences(values: npt.NDArray[np.int64], order: int) -> npt.NDArray[np.int64]:
    if order == 0:
        return values
    first = np.concatenate([values[:1], np.diff(values)])
    if order == 1:
        return first
    second = values.copy()
    second[2:] = values[2:] - 2 * values[1:-1] + values[:-2]
    return second


def write_scp(record: EcgRecord, *, huffman: bool = True, difference: int = 2) -> bytes:
    """Write a minimal SCP-ECG file (sections 0, 1, 2, 3, 6) of ``record`` in 1 uV units.

    Parameters
    ----------
    record
        The record; only standard leads can be written, and ``1e6 / fs`` must be whole microseconds.
    huffman
        Compress with the default Huffman table (section 2 says 19999); else 16-bit samples.
    difference
        0 (none), 1 (first) or 2 (second differences) before compression.

    Returns
    -------
    bytes
        The SCP-ECG file.

    Raises
    ------
    ValueError
        A lead is not a standard lead, the rate gives no whole-microsecond interval, or
        ``difference`` is not 0, 1 or 2.
    """
    if difference not in (0, 1, 2):
        raise ValueError(f"difference must be 0, 1 or 2, got {difference!r}")
    unknown = [name for name in record.leads if name not in _CODE_OF_LEAD]
    interval = 1e6 / record.fs
    if unknown or abs(interval - round(interval)) > 1e-6:
        raise ValueError(f"write_scp needs standard leads and a whole-microsecond interval ({unknown}, {interval})")
    samples = np.rint(record.signal.astype(np.float64) * 1000.0).astype(np.int64)
    n = samples.shape[0]
    lead_body = struct.pack("<BB", len(record.leads), 0x04 | (len(record.leads) << 3 & 0xF8))
    lead_body += b"".join(struct.pack("<IIB", 1, n, _CODE_OF_LEAD[name]) for name in record.leads)
    encoded = [_differences(samples[:, i], difference) for i in range(samples.shape[1])]
    chunks = [_huffman_encode(d) if huffman else d.astype("<i2").tobytes() for d in encoded]
    rhythm = struct.pack("<HHBB", 1000, round(interval), difference, 0)
    rhythm += struct.pack(f"<{len(chunks)}H", *map(len, chunks))
    bodies = {1: _patient_section(record), 3: lead_body, 6: rhythm + b"".join(chunks)}
    if huffman:
        bodies[2] = struct.pack("<H", _DEFAULT_HUFFMAN)
    return _assemble({sid: _section(sid, body) for sid, body in sorted(bodies.items())})


def _assemble(sections: dict[int, bytes]) -> bytes:
    pointer_size = 16 + 10 * 12
    index, pointers, ordered = 7 + pointer_size, b"", b""
    for section_id in range(12):
        blob = sections.get(section_id, b"") if section_id else b""
        if section_id == 0:
            pointers += struct.pack("<HII", 0, pointer_size, 7)
        else:
            pointers += struct.pack("<HII", section_id, len(blob), index if blob else 0)
            index, ordered = index + len(blob), ordered + blob
    body = _section(0, pointers) + ordered
    rest = struct.pack("<I", 6 + len(body)) + body
    return struct.pack("<H", crc_ccitt(rest)) + rest
