"""HL7 v3 annotated ECG (aECG, FDA XML) reader and a writer of the same subset.

The reader parses with defusedxml, which refuses DTDs, entity declarations and external
references, so an XML bomb or an XXE attempt is rejected as :class:`InvalidInput`.  It takes the
first ``series`` (rhythm waveforms, not the derived median beats): a ``sequenceSet`` whose time
sequence is a ``GLIST_TS``/``GLIST_PQ`` (the increment gives the rate) and whose lead sequences are
``SLIST_PQ`` (origin + scale x digits, in uV or mV).  Lead codes are ``MDC_ECG_LEAD_*``.
"""

from __future__ import annotations

import datetime as dt
import logging
from xml.etree.ElementTree import Element, ParseError, SubElement, tostring

import numpy as np
import numpy.typing as npt
from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from sharedcenter.ecg.read import make_record, normalize_lead_name, to_millivolts
from sharedcenter.ecg.record import EcgRecord
from sharedcenter.errors import InvalidInput

__all__ = ["AECG", "is_aecg", "read_aecg", "write_aecg"]

logger = logging.getLogger(__name__)

#: Format name of an HL7 aECG file.
AECG = "hl7-aecg"
_NS = "urn:hl7-org:v3"
_N = f"{{{_NS}}}"
_XSI_TYPE = "{http://www.w3.org/2001/XMLSchema-instance}type"
_UNIT_MV = {"uv": 1e-3, "mv": 1.0, "v": 1e3, "nv": 1e-6}
_TIME_UNIT_S = {"s": 1.0, "ms": 1e-3, "us": 1e-6}
_MAX_SAMPLES = 10_000_000


def is_aecg(data: bytes) -> bool:
    """Whether ``data`` looks like an HL7 aECG document (cheap test on the first bytes)."""
    head = data[:4096].lstrip(b"\xef\xbb\xbf \t\r\n")
    return head.startswith(b"<") and b"AnnotatedECG" in head


def _parse(data: bytes) -> Element:
    try:
        root = fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise InvalidInput(f"aECG XML refused: {type(exc).__name__} (DTD, entity or external reference)") from exc
    except (ParseError, ValueError) as exc:
        raise InvalidInput(f"aECG XML is not well formed (truncated or corrupt?): {exc}") from exc
    except LookupError as exc:  # expat looks up the declared encoding: encoding="ATF-8" is a LookupError
        raise InvalidInput(f"aECG XML declares an unknown character encoding: {exc}") from exc
    if root.tag != f"{_N}AnnotatedECG":
        raise InvalidInput(f"not an HL7 aECG document: root element is {root.tag!r}")
    return root  # type: ignore[no-any-return]


def _float(element: Element | None, attribute: str, what: str) -> float:
    raw = element.get(attribute) if element is not None else None
    try:
        return float(raw)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise InvalidInput(f"aECG {what} has no numeric {attribute!r} (got {raw!r})") from None


def _sample_interval_s(sequence: Element) -> float:
    increment = sequence.find(f"{_N}value/{_N}increment")
    seconds = _float(increment, "value", "time increment")
    unit = (increment.get("unit", "s") if increment is not None else "s").lower()
    if unit not in _TIME_UNIT_S:
        raise InvalidInput(f"aECG time increment unit {unit!r} is not s, ms or us")
    return seconds * _TIME_UNIT_S[unit]


def _lead(sequence: Element) -> tuple[str, npt.NDArray[np.float64], float | None]:
    """(lead name, values, millivolts per value or None when not a voltage)."""
    code = sequence.find(f"{_N}code")
    name = str(code.get("code", "")) if code is not None else ""
    value = sequence.find(f"{_N}value")
    origin = _float(value.find(f"{_N}origin") if value is not None else None, "value", f"{name} origin")
    scale_element = value.find(f"{_N}scale") if value is not None else None
    scale = _float(scale_element, "value", f"{name} scale")
    digits = (value.findtext(f"{_N}digits") if value is not None else None) or ""
    try:
        raw = np.array(digits.split(), dtype=np.float64)
    except ValueError as exc:
        raise InvalidInput(f"aECG lead {name} has non-numeric digits: {exc}") from exc
    if raw.size > _MAX_SAMPLES:
        raise InvalidInput(f"aECG lead {name} has {raw.size} samples, more than {_MAX_SAMPLES}")
    unit = str(scale_element.get("unit", "uV") if scale_element is not None else "uV").lower()
    short = name.removeprefix("MDC_ECG_LEAD_")
    return normalize_lead_name(short), origin + scale * raw, _UNIT_MV.get(unit)


def _sequence_set(root: Element) -> Element:
    for series in root.iter(f"{_N}series"):
        found = series.find(f"{_N}component/{_N}sequenceSet")
        if found is not None:
            return found
    raise InvalidInput("aECG document has no series with a sequenceSet (no waveforms)")


def _start_time(root: Element) -> dt.datetime | None:
    low = root.find(f"{_N}effectiveTime/{_N}low")
    raw = (low.get("value", "") if low is not None else "")[:14]
    try:
        return dt.datetime.strptime(raw, "%Y%m%d%H%M%S") if len(raw) == 14 else None
    except ValueError:
        return None


def read_aecg(data: bytes) -> EcgRecord:
    """Read an HL7 aECG document into the canonical record.

    Parameters
    ----------
    data
        The XML bytes.

    Returns
    -------
    EcgRecord
        Rhythm leads in millivolts; ``fs`` from the time sequence's increment.

    Raises
    ------
    InvalidInput
        Not well-formed XML, a DTD or entity (XML bomb), no waveforms, leads of unequal length,
        non-numeric values, or an absurd rate or amplitude.
    """
    root = _parse(data)
    sequences = [component.find(f"{_N}sequence") for component in _sequence_set(root).findall(f"{_N}component")]
    interval: float | None = None
    leads: list[tuple[str, npt.NDArray[np.float64], float | None]] = []
    for sequence in (s for s in sequences if s is not None):
        code = sequence.find(f"{_N}code")
        if code is not None and str(code.get("code", "")).startswith("TIME_"):
            interval = _sample_interval_s(sequence)
        else:
            leads.append(_lead(sequence))
    if interval is None or not interval > 0:
        raise InvalidInput("aECG sequenceSet has no time sequence with a positive increment")
    if not leads:
        raise InvalidInput("aECG sequenceSet has no lead sequences")
    lengths = {values.size for _, values, _ in leads}
    if len(lengths) != 1:
        raise InvalidInput(f"aECG leads have different lengths: {sorted(lengths)}")
    matrix = np.stack([values for _, values, _ in leads], axis=1)
    signal, names, dropped = to_millivolts(matrix, [name for name, _, _ in leads], [s for _, _, s in leads])
    return make_record(signal, 1.0 / interval, names, AECG, start_time=_start_time(root),
                       metadata={"dropped_channels": dropped})  # fmt: skip


def _sub(parent: Element, tag: str, **attributes: str) -> Element:
    return SubElement(parent, f"{_N}{tag}", attributes)


def _lead_sequence(parent: Element, name: str, values: npt.NDArray[np.int32]) -> None:
    sequence = _sub(_sub(parent, "component"), "sequence")
    _sub(sequence, "code", code=f"MDC_ECG_LEAD_{name}", codeSystem="2.16.840.1.113883.6.24")
    value = _sub(sequence, "value", **{_XSI_TYPE: "SLIST_PQ"})
    _sub(value, "origin", value="0", unit="uV")
    _sub(value, "scale", value="1", unit="uV")
    _sub(value, "digits").text = " ".join(map(str, values.tolist()))


def write_aecg(record: EcgRecord) -> bytes:
    """Write ``record`` as a minimal HL7 aECG document (rhythm series, samples in whole microvolts).

    Parameters
    ----------
    record
        The canonical record.

    Returns
    -------
    bytes
        UTF-8 XML that :func:`read_aecg` reads back.
    """
    root = Element(f"{_N}AnnotatedECG")
    start = (record.start_time or dt.datetime(1900, 1, 1)).strftime("%Y%m%d%H%M%S")
    _sub(_sub(root, "effectiveTime"), "low", value=start)
    sequence_set = _sub(_sub(_sub(_sub(root, "component"), "series"), "component"), "sequenceSet")
    time_sequence = _sub(_sub(sequence_set, "component"), "sequence")
    _sub(time_sequence, "code", code="TIME_ABSOLUTE", codeSystem="2.16.840.1.113883.5.4")
    time_value = _sub(time_sequence, "value", **{_XSI_TYPE: "GLIST_TS"})
    _sub(time_value, "head", value=start)
    _sub(time_value, "increment", value=f"{1.0 / record.fs:.9g}", unit="s")
    microvolts = np.rint(record.signal.astype(np.float64) * 1000.0).astype(np.int32)
    for index, name in enumerate(record.leads):
        _lead_sequence(sequence_set, name, microvolts[:, index])
    body: bytes = tostring(root, encoding="utf-8", xml_declaration=False)
    return b'<?xml version="1.0" encoding="UTF-8"?>\n' + body
