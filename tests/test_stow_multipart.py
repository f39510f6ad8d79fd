"""The one-pass multipart/related parser of STOW-RS: preamble and epilogue, CRLF and dashes inside part
bytes, parts without headers, and the errors that name what is wrong."""

from __future__ import annotations

import pytest

from sharedcenter.dicomweb import build_multipart_related, parse_multipart_related
from sharedcenter.errors import InvalidInput

CT = 'multipart/related; type="application/dicom"; boundary=B0'


def test_preamble_epilogue_and_tricky_part_bytes() -> None:
    body = (b"preamble, ignored\r\n--B0\r\nContent-Type: application/dicom\r\n\r\n\r\n--B\r\n-B0\r\n"
            b"--B0\r\n\r\nno headers\r\n--B0--\r\nepilogue --B0\r\n")
    parts = parse_multipart_related(body, CT, part_type="application/dicom")
    assert [p.data for p in parts] == [b"\r\n--B\r\n-B0", b"no headers"]
    assert parts[0].content_type == "application/dicom" and parts[1].headers == {}


def test_round_trip_keeps_bytes_exactly() -> None:
    items = [bytes(range(256)) * 40, b"\r\n\r\n--", b"", b"x" * 1_000_001]
    body, content_type = build_multipart_related(items)
    assert [p.data for p in parse_multipart_related(body, content_type, part_type="application/dicom")] == items


@pytest.mark.parametrize(("body", "message"), [
    (b"--B0\r\nContent-Type: application/dicom\r\n\r\nabc", "closing"),
    (b"no delimiter at all", "closing"),
    (b"--B0--\r\n", "no parts"),
    (b"--B0 junk\r\n\r\nabc\r\n--B0--", "boundary line"),
    (b"--B0\r\nContent-Type application/dicom\r\n\r\nabc\r\n--B0--", "malformed part header"),
    (b"--B0\r\nContent-Type: application/dicom\r\nabc\r\n--B0--", "not ended by an empty line"),
])
def test_malformed_bodies_name_the_problem(body: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        parse_multipart_related(body, CT)


def test_a_bytearray_body_gives_bytes_parts() -> None:
    """The STOW route reads the body into a bytearray; each part comes out as bytes, equal to what was sent."""
    items = [b"one\r\n", bytes(range(256)) * 4]
    body, content_type = build_multipart_related(items)
    parts = parse_multipart_related(bytearray(body), content_type, part_type="application/dicom")
    assert [p.data for p in parts] == items and all(type(p.data) is bytes for p in parts)
