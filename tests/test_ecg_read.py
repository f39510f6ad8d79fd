"""ECG format detection and readers, on real records (MIT-BIH, CinC 12-lead, DICOM waveform)."""

from __future__ import annotations

import csv
import datetime as dt
import io
from pathlib import Path
from types import ModuleType

import numpy as np
import pydicom
import pytest
import wfdb
from hypothesis import given, settings
from hypothesis import strategies as st
from pydicom.data import get_testdata_file

import sharedcenter.ecg
from sharedcenter.ecg import (
    STANDARD_LEADS,
    detect_format,
    is_dicom_waveform,
    normalize_lead_name,
    read_dicom_waveform,
    read_ecg,
    read_wfdb,
    wfdb_signal_files,
)
from sharedcenter.ecg import detect as detect_module
from sharedcenter.ecg import read as read_module
from sharedcenter.errors import InvalidInput, UnsupportedFormat
from tests.data_paths import SHARED_DATA, require_data, wfdb_files

ECG12_SOP_CLASS = "1.2.840.10008.5.1.4.1.1.9.1.1"


def pydicom_file(name: str) -> bytes:
    return Path(str(get_testdata_file(name, download=False))).read_bytes()


@pytest.fixture(scope="module")
def mitdb() -> Path:
    return require_data("mitdb")


@pytest.fixture(scope="module")
def record_100(mitdb: Path) -> dict[str, bytes]:
    return wfdb_files(mitdb, "100")


@pytest.fixture(scope="module")
def cinc() -> Path:
    return require_data("ecg12_cinc")


def cinc_wfdb_records() -> list[object]:
    """(record, header quirk) of every WFDB record in ecg12_cinc/labels.csv that is present."""
    labels = SHARED_DATA / "ecg12_cinc" / "labels.csv"
    if not labels.exists():
        return [pytest.param("", False, marks=pytest.mark.skip(reason=f"real test data {labels} not present"))]
    with labels.open(newline="") as handle:
        rows = [row for row in csv.DictReader(handle) if row["format"].startswith("wfdb")]
    present = [row for row in rows if (labels.parent / "records" / f"{row['record']}.hea").exists()]
    return [pytest.param(row["record"], row["wfdb_header_quirk"] == "1", id=row["record"]) for row in present]


def simulated_wfdb(folder: Path, *, units: str = "mV", scale: float = 1.0, name: str = "sim") -> dict[str, bytes]:
    """A neurokit2-simulated 10 s lead II written by wfdb.wrsamp in the given units."""
    import neurokit2 as nk

    folder.mkdir(parents=True, exist_ok=True)
    ecg = nk.ecg_simulate(duration=10, sampling_rate=500, heart_rate=72, random_state=3)
    wfdb.wrsamp(
        name, fs=500, units=[units], sig_name=["II"], p_signal=(ecg * scale)[:, None], fmt=["16"],
        adc_gain=[1000.0 / scale], baseline=[0], write_dir=str(folder),
    )  # fmt: skip
    return {f"{name}.hea": (folder / f"{name}.hea").read_bytes(), f"{name}.dat": (folder / f"{name}.dat").read_bytes()}


# --- public surface -----------------------------------------------------------------------------


@pytest.mark.parametrize("module", [sharedcenter.ecg, detect_module, read_module])
def test_all_names_exist(module: ModuleType) -> None:
    for name in module.__all__:
        assert hasattr(module, name), name


# --- detection ----------------------------------------------------------------------------------


def test_detect_wfdb_header_and_signal_file_by_content(record_100: dict[str, bytes]) -> None:
    assert detect_format("100.hea", record_100["100.hea"]) == "wfdb-header"
    assert detect_format("anything.dcm", record_100["100.hea"]) == "wfdb-header"
    assert detect_format("100.dat", record_100["100.dat"]) is None
    assert detect_format("100.hea", record_100["100.dat"]) is None


def test_detect_dicom_by_preamble_not_name() -> None:
    assert detect_format("ecg.hea", pydicom_file("waveform_ecg.dcm")) == "dicom"
    assert detect_format("ct.bin", pydicom_file("CT_small.dcm")) == "dicom"


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"hello world\n",
        b"\x00" * 300,
        b"100 two 360\n",
        b"100 1 360 1000\n",  # promises one signal line, has none
        b"100 1 360 1000\n100.dat 999 200\n",  # unknown format
        b"100 1 fast 1000\n100.dat 16 200\n",
        b"# only a comment\n",
    ],
)
def test_detect_rejects_non_headers(data: bytes) -> None:
    assert detect_format("x.hea", data) is None


def test_detect_accepts_header_variants() -> None:
    assert detect_format("a.hea", b"rec_1 1 250/1000(0) 10\nrec_1.dat 16x2:3+24 200(0)/uV 16 0 0 0 0 II\n")
    assert detect_format("a.hea", b"# comment\n\nrec 2\nrec.dat 212\nrec.dat 212\n") == "wfdb-header"


def test_cinc_headers_are_detected(cinc: Path) -> None:
    headers = sorted((cinc / "records").glob("*.hea"))
    assert len(headers) > 100
    assert all(detect_format(h.name, h.read_bytes()) == "wfdb-header" for h in headers)


def test_wfdb_signal_files_of_real_headers(mitdb: Path) -> None:
    assert wfdb_signal_files((mitdb / "100.hea").read_bytes()) == ["100.dat"]
    samples = require_data("wfdb_samples", "wfdb_python_sample_data")
    assert wfdb_signal_files((samples / "s0010_re.hea").read_bytes()) == ["s0010_re.dat", "s0010_re.xyz"]
    assert wfdb_signal_files((samples / "a103l.hea").read_bytes()) == ["a103l.mat"]


@pytest.mark.parametrize("bad", ["../etc/passwd", "a/b.dat", "a\\b.dat", "..", "x..dat"])
def test_wfdb_signal_files_rejects_paths(bad: str) -> None:
    header = f"rec 1 360 100\n{bad} 16 200 16 0 0 0 0 II\n".encode()
    with pytest.raises(InvalidInput, match="plain file name"):
        wfdb_signal_files(header)


def test_wfdb_signal_files_rejects_non_header() -> None:
    with pytest.raises(InvalidInput):
        wfdb_signal_files(b"\x00\x01garbage")


def test_is_dicom_waveform() -> None:
    assert is_dicom_waveform(pydicom_file("waveform_ecg.dcm"))
    assert not is_dicom_waveform(pydicom_file("CT_small.dcm"))
    assert not is_dicom_waveform(b"not dicom at all")
    assert not is_dicom_waveform(b"\x00" * 128 + b"DICM" + b"\xff" * 20)


def test_is_dicom_waveform_by_sop_class() -> None:
    ds = pydicom.dcmread(io.BytesIO(pydicom_file("CT_small.dcm")))
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.2"
    out = io.BytesIO()
    ds.save_as(out)
    assert is_dicom_waveform(out.getvalue())


# --- lead names ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("AVR", "aVR"),
        ("avl", "aVL"),
        ("Lead I (Einthoven)", "I"),
        ("Lead aVF", "aVF"),
        ("lead v1", "V1"),
        ("ii", "II"),
        (" V6 ", "V6"),
        ("MLII", "MLII"),
        ("PLETH", "PLETH"),
        ("vx", "vx"),
    ],
)
def test_normalize_lead_name(raw: str, expected: str) -> None:
    assert normalize_lead_name(raw) == expected


# --- WFDB ---------------------------------------------------------------------------------------


def test_read_mitdb_100(record_100: dict[str, bytes], mitdb: Path) -> None:
    record = read_wfdb(record_100)
    assert record.signal.shape == (650000, 2)
    assert record.signal.dtype == np.float32
    assert record.fs == 360.0
    assert record.leads == ("MLII", "V5")
    assert record.source_format == "wfdb"
    reference = wfdb.rdrecord(str(mitdb / "100")).p_signal
    np.testing.assert_allclose(record.signal, reference, atol=1e-5)
    assert 0.5 < float(np.abs(record.signal).max()) < 10.0


def test_read_ecg_dispatches_wfdb(record_100: dict[str, bytes]) -> None:
    assert read_ecg(record_100).leads == ("MLII", "V5")


@pytest.mark.parametrize(("name", "quirk"), cinc_wfdb_records())
def test_read_every_cinc_12_lead_record(cinc: Path, name: str, quirk: bool) -> None:
    record = read_ecg(wfdb_files(cinc / "records", name))
    assert record.leads == STANDARD_LEADS
    assert record.fs == 500.0
    assert record.signal.shape[1] == 12 and record.signal.shape[0] >= 2500
    assert record.metadata["header_repaired"] is quirk
    assert 0.05 < float(np.abs(record.signal).max()) < 30.0


def test_ptb_lowercase_leads_are_normalized() -> None:
    folder = require_data("wfdb_samples", "wfdb_python_sample_data")
    record = read_wfdb(wfdb_files(folder, "s0010_re"))
    assert record.leads == (*STANDARD_LEADS, "vx", "vy", "vz")
    assert record.fs == 1000.0


def test_non_voltage_channels_are_dropped() -> None:
    folder = require_data("wfdb_samples", "wfdb_python_sample_data")
    record = read_wfdb(wfdb_files(folder, "a103l"))
    assert record.leads == ("II", "V")
    assert record.metadata["dropped_channels"] == ["PLETH"]


@pytest.mark.parametrize(("units", "scale"), [("uV", 1000.0), ("V", 0.001), ("mV", 1.0)])
def test_units_are_converted_to_millivolts(tmp_path: Path, units: str, scale: float) -> None:
    reference = read_wfdb(simulated_wfdb(tmp_path / "mv", units="mV"))
    record = read_wfdb(simulated_wfdb(tmp_path, units=units, scale=scale))
    np.testing.assert_allclose(record.signal, reference.signal, atol=2e-3)


def test_header_name_need_not_match_upload_name(record_100: dict[str, bytes]) -> None:
    files = {"upload.hea": record_100["100.hea"], "100.dat": record_100["100.dat"]}
    assert read_wfdb(files).signal.shape == (650000, 2)


# --- DICOM waveform -----------------------------------------------------------------------------


def test_read_dicom_12_lead_waveform() -> None:
    record = read_dicom_waveform(pydicom_file("waveform_ecg.dcm"))
    assert record.leads == STANDARD_LEADS
    assert record.fs == 1000.0
    assert record.signal.shape == (10000, 12)
    assert record.signal.dtype == np.float32
    peak = float(np.abs(record.signal).max())
    assert 0.3 < peak < 5.0, f"{peak} mV is not a plausible ECG amplitude"
    assert record.start_time == dt.datetime(2013, 1, 25, 10, 59, 19)
    assert record.patient_id == "642341"
    assert record.metadata["sop_class_uid"] == ECG12_SOP_CLASS
    assert record.metadata["multiplex_group_label"] == "RHYTHM"


def test_read_ecg_dispatches_dicom() -> None:
    assert read_ecg({"ecg.dcm": pydicom_file("waveform_ecg.dcm")}).source_format == "dicom-waveform"


# --- bad input ----------------------------------------------------------------------------------


def test_truncated_dat(record_100: dict[str, bytes]) -> None:
    files = dict(record_100, **{"100.dat": record_100["100.dat"][:100_000]})
    with pytest.raises(InvalidInput, match=r"100\.dat holds 100000 bytes.*truncated"):
        read_wfdb(files)


def test_header_promising_more_samples(record_100: dict[str, bytes]) -> None:
    header = record_100["100.hea"].replace(b"100 2 360 650000", b"100 2 360 700000")
    with pytest.raises(InvalidInput, match="promises 700000 samples"):
        read_wfdb(dict(record_100, **{"100.hea": header}))


def test_missing_signal_file(record_100: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput, match=r"not sent: 100\.dat"):
        read_wfdb({"100.hea": record_100["100.hea"]})


def test_garbage_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormat, match="junk.bin"):
        read_ecg({"junk.bin": bytes(range(256)) * 10})


def test_no_files_is_unsupported() -> None:
    with pytest.raises(UnsupportedFormat):
        read_ecg({})


def test_non_waveform_dicom() -> None:
    with pytest.raises(InvalidInput, match=r"not a waveform.*CT Image Storage"):
        read_ecg({"ct.dcm": pydicom_file("CT_small.dcm")})


def test_truncated_dicom_waveform() -> None:
    data = pydicom_file("waveform_ecg.dcm")
    with pytest.raises(InvalidInput, match="DICOM"):
        read_dicom_waveform(data[: len(data) // 2])


def test_dicom_with_other_files() -> None:
    with pytest.raises(InvalidInput, match="one DICOM waveform file"):
        read_ecg({"ecg.dcm": pydicom_file("waveform_ecg.dcm"), "extra.txt": b"x"})


def test_two_headers(record_100: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput, match="exactly one .hea"):
        read_wfdb(dict(record_100, **{"other.hea": record_100["100.hea"]}))


def test_uploaded_names_must_be_plain(record_100: dict[str, bytes]) -> None:
    with pytest.raises(InvalidInput, match="plain file name"):
        read_ecg({"../100.hea": record_100["100.hea"], "100.dat": record_100["100.dat"]})


def test_zero_leads() -> None:
    with pytest.raises(InvalidInput, match="zero signals"):
        read_wfdb({"rec.hea": b"rec 0 500 1000\n"})


def test_zero_sampling_frequency(tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    files["sim.hea"] = files["sim.hea"].replace(b"sim 1 500 ", b"sim 1 0 ")
    with pytest.raises(InvalidInput, match="sampling frequency"):
        read_wfdb(files)


def test_nan_samples(tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    data = bytearray(files["sim.dat"])
    data[200:210] = b"\x00\x80" * 5  # -32768 is the format-16 "invalid sample" value
    files["sim.dat"] = bytes(data)
    with pytest.raises(InvalidInput, match=r"5 missing \(NaN\).*lead\(s\) II"):
        read_wfdb(files)


def test_header_that_is_not_wfdb() -> None:
    with pytest.raises(InvalidInput, match="WFDB"):
        read_wfdb({"rec.hea": b"this is not a header\n"})


@settings(max_examples=150, deadline=None, database=None)
@given(data=st.binary(max_size=600), name=st.sampled_from(["a.hea", "a.dat", "a.dcm", "a"]))
def test_random_bytes_only_raise_invalid_input(data: bytes, name: str) -> None:
    assert detect_format(name, data) in {None, "dicom", "wfdb-header", "zip", "hl7-aecg", "scp-ecg"}
    with pytest.raises(InvalidInput):
        read_ecg({name: data})


@settings(max_examples=150, deadline=None, database=None)
@given(data=st.data())
def test_mangled_real_header_only_raises_invalid_input(data: st.DataObject) -> None:
    folder = require_data("ecg12_cinc", "records")
    files = wfdb_files(folder, "A0001")
    header = bytearray(files["A0001.hea"])
    for _ in range(data.draw(st.integers(min_value=1, max_value=3))):
        header[data.draw(st.integers(min_value=0, max_value=len(header) - 1))] = data.draw(st.integers(0, 255))
    files["A0001.hea"] = bytes(header)
    try:
        record = read_ecg(files)
    except InvalidInput:
        return
    assert record.signal.dtype == np.float32 and np.isfinite(record.signal).all()


@settings(max_examples=300, deadline=None, database=None)
@given(data=st.data())
def test_mangled_dicom_waveform_only_raises_invalid_input(data: st.DataObject) -> None:
    original = pydicom_file("waveform_ecg.dcm")
    mangled = bytearray(original)
    for _ in range(data.draw(st.integers(min_value=1, max_value=4))):
        mangled[data.draw(st.integers(min_value=128, max_value=3000))] = data.draw(st.integers(0, 255))
    try:
        record = read_ecg({"ecg.dcm": bytes(mangled)})
    except InvalidInput:
        return
    assert np.isfinite(record.signal).all() and record.fs > 0


def test_signal_without_description_gets_a_channel_name(tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    header = files["sim.hea"].decode().splitlines()
    header[1] = " ".join(header[1].split()[:8])  # drop the description (lead name)
    files["sim.hea"] = ("\n".join(header) + "\n").encode()
    assert read_wfdb(files).leads == ("ch1",)


def test_read_ecg_finds_the_header_by_content(record_100: dict[str, bytes]) -> None:
    files = {"upload-1": record_100["100.hea"], "100.dat": record_100["100.dat"]}
    assert read_ecg(files).leads == ("MLII", "V5")
