"""Writers and readers of every ECG format: round trips, dciodvfy, zips, aECG, SCP-ECG, bad input.

Fixtures and where they come from:
- WFDB (.hea + .dat/.mat): real records in ../shared/data (CinC 12-lead A0001, JS20008, MIT-BIH 100,
  CPSC 2021 two-lead), read at run time;
- DICOM: pydicom's waveform_ecg.dcm (real, Mortara), and DICOM written by our writer from real records;
- HL7 aECG and SCP-ECG: generated at test time by our writers from real signals (CinC A0001 and the
  SPH record SPH00001.h5, read with h5py), plus hand-made minimal XML for the XML bomb and XXE cases;
- zips: built at test time from the real WFDB files.
"""

from __future__ import annotations

import contextlib
import dataclasses
import io
import shutil
import subprocess
import zipfile
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

from sharedcenter.ecg import read_ecg
from sharedcenter.ecg.aecg import read_aecg, write_aecg
from sharedcenter.ecg.detect import detect_format
from sharedcenter.ecg.record import STANDARD_LEADS, EcgRecord, canonicalize, record_from_bytes, record_to_bytes
from sharedcenter.ecg.scp import read_scp, write_scp
from sharedcenter.ecg.summary import summarize_ecg
from sharedcenter.ecg.write import GENERAL_ECG_SOP_CLASS, TWELVE_LEAD_SOP_CLASS, write_dicom_ecg, write_wfdb
from sharedcenter.ecg.zipped import MAX_UNPACKED_BYTES, unzip_record
from sharedcenter.errors import InvalidInput
from tests.data_paths import require_data, wfdb_files


def _cinc(name: str = "A0001") -> dict[str, bytes]:
    return wfdb_files(require_data("ecg12_cinc", "records"), name)


@pytest.fixture(scope="module")
def a0001() -> EcgRecord:
    return read_ecg(_cinc())


@pytest.fixture(scope="module")
def sph() -> EcgRecord:
    """SPH00001 (float16 mV, 500 Hz, I..V6) as a canonical record."""
    h5py = pytest.importorskip("h5py")
    folder = require_data("ecg12_cinc", "sph")
    path = sorted(folder.glob("*.h5"))[0]
    with h5py.File(path, "r") as handle:
        signal = np.asarray(handle["ecg"][()], dtype=np.float32).T
    return EcgRecord(np.ascontiguousarray(signal), 500.0, STANDARD_LEADS, "sph-h5")


def _dicom_waveform() -> bytes:
    return Path(str(get_testdata_file("waveform_ecg.dcm"))).read_bytes()


def _zip(files: dict[str, bytes], folder: str = "") -> bytes:
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in files.items():
            archive.writestr(folder + name, data)
    return out.getvalue()


def _close(a: EcgRecord, b: EcgRecord, tolerance_mv: float = 0.0006) -> None:
    assert a.leads == b.leads and a.fs == pytest.approx(b.fs) and a.signal.shape == b.signal.shape
    assert float(np.abs(a.signal - b.signal).max()) <= tolerance_mv


# --- canonical record ----------------------------------------------------------------------------


def test_derived_limb_leads_from_i_and_ii(a0001: EcgRecord) -> None:
    only = dataclasses.replace(a0001, signal=a0001.signal[:, [1, 0]].copy(), leads=("II", "I"))
    derived = canonicalize(only)
    assert derived.leads == ("I", "II", "III", "aVR", "aVL", "aVF")
    assert derived.derived_leads == ("III", "aVR", "aVL", "aVF")
    # the challenge record stores all six limb leads: the computed ones match the stored ones
    assert np.abs(derived.signal - a0001.signal[:, :6]).max() < 0.02


def test_two_lead_cpsc_record_gets_derived_leads() -> None:
    record = read_ecg(wfdb_files(require_data("wfdb_samples", "cpsc2021"), "data_101_6"))
    assert record.leads == ("I", "II", "III", "aVR", "aVL", "aVF") and record.derived_leads[0] == "III"


def test_stored_form_round_trip(a0001: EcgRecord) -> None:
    back = record_from_bytes(record_to_bytes(a0001))
    assert back == dataclasses.replace(back, signal=back.signal)  # dataclass intact
    _close(a0001, back, 0.0)
    assert back.metadata == a0001.metadata and back.filters == a0001.filters
    with pytest.raises(InvalidInput, match="stored canonical"):
        record_from_bytes(b"garbage")


# --- writers, round trips, dciodvfy --------------------------------------------------------------


@pytest.mark.skipif(shutil.which("dciodvfy") is None, reason="dciodvfy (Debian dicom3tools) not installed")
@pytest.mark.parametrize("source", ["A0001", "mitdb-100", "waveform_ecg.dcm", "sph"])
def test_dicom_writer_validates_and_round_trips(source: str, tmp_path: Path, a0001: EcgRecord,
                                                sph: EcgRecord) -> None:
    record = {"A0001": lambda: a0001, "sph": lambda: sph,
              "mitdb-100": lambda: read_ecg(wfdb_files(require_data("mitdb"), "100")),
              "waveform_ecg.dcm": lambda: read_ecg({"w.dcm": _dicom_waveform()})}[source]()
    record = dataclasses.replace(record, patient_id="P001", patient_name="张^三")
    data = write_dicom_ecg(record, seed="fixed")
    (tmp_path / "out.dcm").write_bytes(data)
    result = subprocess.run(["dciodvfy", str(tmp_path / "out.dcm")], capture_output=True, text=True, check=False)
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error")]
    assert errors == [], result.stderr
    back = read_ecg({"out.dcm": data})
    _close(record, back)
    assert back.patient_name == "张^三" and back.filters == record.filters
    expected = TWELVE_LEAD_SOP_CLASS if record.n_samples <= 16384 and len(record.leads) <= 13 else GENERAL_ECG_SOP_CLASS
    assert back.metadata["sop_class_uid"] == expected
    assert write_dicom_ecg(record, seed="fixed") == data  # same seed, same UIDs: re-sends are duplicates


@pytest.mark.parametrize("source", ["A0001", "waveform_ecg.dcm"])
def test_wfdb_writer_round_trip(source: str, a0001: EcgRecord) -> None:
    record = a0001 if source == "A0001" else read_ecg({"w.dcm": _dicom_waveform()})
    files = write_wfdb(record, "rt")
    assert detect_format("rt.hea", files["rt.hea"]) == "wfdb-header"
    _close(record, read_ecg(files))


def test_aecg_round_trip_on_real_signals(a0001: EcgRecord, sph: EcgRecord) -> None:
    for record in (a0001, sph):
        data = write_aecg(record)
        assert detect_format("x.xml", data) == "hl7-aecg"
        back = read_ecg({"ecg.xml": data})
        assert back.source_format == "hl7-aecg"
        _close(record, back)


@pytest.mark.parametrize(("huffman", "difference"), [(True, 2), (True, 1), (True, 0), (False, 0), (False, 2)])
def test_scp_round_trip_on_real_signals(huffman: bool, difference: int, a0001: EcgRecord, sph: EcgRecord) -> None:
    for record in (a0001, sph):
        record = dataclasses.replace(record, patient_id="P9", patient_name="LI Lei", device="CartX 3")
        data = write_scp(record, huffman=huffman, difference=difference)
        assert detect_format("x.scp", data) == "scp-ecg"
        back = read_ecg({"ecg.scp": data})
        _close(record, back)
        assert (back.patient_id, back.patient_name, back.device) == ("P9", "LI Lei", "CartX 3")


def test_cross_format_chain(a0001: EcgRecord) -> None:
    """WFDB -> SCP -> aECG -> DICOM -> WFDB keeps every sample within rounding."""
    record = read_scp(write_scp(a0001))
    record = read_aecg(write_aecg(record))
    record = read_ecg({"x.dcm": write_dicom_ecg(record)})
    _close(a0001, read_ecg(write_wfdb(record, "chain")))


# --- zips ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("folder", ["", "A0001/"])
def test_zip_of_a_cinc_mat_pair(folder: str, a0001: EcgRecord) -> None:
    data = _zip(_cinc(), folder)
    assert detect_format("a.zip", data) == "zip"
    _close(a0001, read_ecg({"a.zip": data}), 0.0)


def test_zip_of_a_dicom_waveform() -> None:
    assert read_ecg({"w.zip": _zip({"w.dcm": _dicom_waveform()})}).leads == STANDARD_LEADS


def test_bad_zips() -> None:
    with pytest.raises(InvalidInput, match="unsafe path"):
        read_ecg({"a.zip": _zip({"../evil.hea": b"x"})})
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("a.dat", b"\0" * (MAX_UNPACKED_BYTES + 1))
    assert len(bomb.getvalue()) < 200_000
    with pytest.raises(InvalidInput, match="zip bomb"):
        unzip_record(bomb.getvalue())
    with pytest.raises(InvalidInput, match="zip inside a zip"):
        read_ecg({"a.zip": _zip({"b.zip": _zip(_cinc())})})
    with pytest.raises(InvalidInput, match="not a readable zip"):
        read_ecg({"a.zip": _zip(_cinc())[:200]})


# --- bad input, each reader ----------------------------------------------------------------------


def test_xml_bomb_and_xxe_are_refused() -> None:
    bomb = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;">'
            b'<!ENTITY c "&b;&b;&b;&b;&b;&b;">]><AnnotatedECG xmlns="urn:hl7-org:v3">&c;</AnnotatedECG>')
    xxe = (b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>'
           b'<AnnotatedECG xmlns="urn:hl7-org:v3">&e;</AnnotatedECG>')
    for data in (bomb, xxe):
        with pytest.raises(InvalidInput, match="refused"):
            read_ecg({"bomb.xml": data})


def test_bad_aecg_documents(a0001: EcgRecord) -> None:
    good = write_aecg(a0001)
    with pytest.raises(InvalidInput, match="not well formed"):
        read_ecg({"a.xml": good[: len(good) // 2]})
    nan = good.replace(b"<ns0:digits>", b"<ns0:digits>nan ", 1)
    with pytest.raises(InvalidInput, match="different lengths|NaN"):
        read_ecg({"a.xml": nan})
    fast = good.replace(b'increment value="0.002"', b'increment value="0.0000001"')
    with pytest.raises(InvalidInput, match="sampling frequency"):
        read_ecg({"a.xml": fast})
    # the Hypothesis mutation that once escaped as LookupError: an unknown declared encoding
    unknown = good.replace(b'encoding="UTF-8"', b'encoding="ATF-8"', 1)
    assert unknown != good
    with pytest.raises(InvalidInput, match="unknown character encoding"):
        read_ecg({"a.xml": unknown})


def test_bad_scp_files(a0001: EcgRecord) -> None:
    good = write_scp(a0001)
    with pytest.raises(InvalidInput):
        read_ecg({"a.scp": good[:-100]})  # truncated: not even recognised, or refused
    flipped = bytearray(good)
    flipped[500] ^= 0xFF
    with pytest.raises(InvalidInput, match="CRC"):
        read_scp(bytes(flipped))


def test_absurd_amplitude_and_wrong_lead_counts(a0001: EcgRecord, tmp_path: Path) -> None:
    huge = dataclasses.replace(a0001, signal=a0001.signal * 20000)
    with pytest.raises(InvalidInput, match="absurd"):
        read_aecg(write_aecg(huge))
    files = _cinc()
    header = files["A0001.hea"].decode().splitlines()
    header[0] = header[0].replace(" 12 ", " 13 ", 1)
    with pytest.raises(InvalidInput, match="13 signals"):
        read_ecg({**files, "A0001.hea": "\n".join(header).encode()})


def test_non_waveform_dicom_is_refused() -> None:
    data = Path(str(get_testdata_file("CT_small.dcm"))).read_bytes()
    with pytest.raises(InvalidInput, match="not a waveform"):
        read_ecg({"ct.dcm": data})


# --- property tests: mutated real files ----------------------------------------------------------

_FAST = settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
_MUTATION = st.lists(st.tuples(st.integers(min_value=0), st.integers(min_value=0, max_value=255)),
                     min_size=1, max_size=8)


def _mutate(data: bytes, edits: list[tuple[int, int]], cut: int | None) -> bytes:
    out = bytearray(data)
    for where, value in edits:
        out[where % len(out)] = value
    return bytes(out[:cut] if cut else out)


def _must_be_clean(files: dict[str, bytes]) -> None:
    with contextlib.suppress(InvalidInput):  # the project's own error type is the only acceptable failure
        read_ecg(files)


@pytest.fixture(scope="module")
def fixtures(a0001: EcgRecord) -> dict[str, bytes]:
    short = dataclasses.replace(a0001, signal=a0001.signal[:1000].copy())
    return {"aecg": write_aecg(short), "scp": write_scp(short), "scp-raw": write_scp(short, huffman=False),
            "dicom": write_dicom_ecg(short), "zip": _zip(_cinc()), "mortara": _dicom_waveform()}


@pytest.mark.parametrize("kind", ["aecg", "scp", "scp-raw", "dicom", "zip", "mortara"])
@_FAST
@given(edits=_MUTATION, cut=st.none() | st.integers(min_value=1, max_value=5000))
def test_mutated_single_files_never_crash(kind: str, fixtures: dict[str, bytes], edits: list[tuple[int, int]],
                                          cut: int | None) -> None:
    _must_be_clean({"upload": _mutate(fixtures[kind], edits, cut)})


@_FAST
@given(edits=_MUTATION, cut=st.none() | st.integers(min_value=1, max_value=20000), target=st.sampled_from([0, 1]))
def test_mutated_wfdb_mat_pairs_never_crash(edits: list[tuple[int, int]], cut: int | None, target: int) -> None:
    files = _cinc()
    name = sorted(files)[target]
    _must_be_clean({**files, name: _mutate(files[name], edits, cut)})


# --- summary (what `ecg inspect` prints) ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["wfdb", "mat-zip", "dicom", "aecg", "scp"])
def test_summary_for_every_format(kind: str, a0001: EcgRecord) -> None:
    files = {"wfdb": lambda: _cinc(), "mat-zip": lambda: {"a.zip": _zip(_cinc())},
             "dicom": lambda: {"a.dcm": write_dicom_ecg(a0001)}, "aecg": lambda: {"a.xml": write_aecg(a0001)},
             "scp": lambda: {"a.scp": write_scp(a0001)}}[kind]()
    summary = summarize_ecg(files)
    assert summary["leads"] == list(STANDARD_LEADS) and summary["fs"] == 500 and summary["duration_s"] == 15
    assert summary["quality"]["verdict"] in {"acceptable", "acceptable_with_warnings"}
    assert set(summary["quality"]["per_lead"]) == set(STANDARD_LEADS)
