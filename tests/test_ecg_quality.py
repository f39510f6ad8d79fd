"""Upload-time ECG quality on real records, through the core and through POST /api/ecg and /api/uploads.

Real records (../shared/data/ecg12_cinc): A0001 (CPSC 2018, clean), JS20008 (Chapman-Shaoxing, V2, V4
and V6 stored as zeros by the source), E07514 (Georgia, lead I inverted with aVR upright).
"""

from __future__ import annotations

import dataclasses
import io
import json
import zipfile

import httpx
import numpy as np
from sqlalchemy import func, select

from sharedcenter.db import AIResult, Study
from sharedcenter.ecg import read_ecg
from sharedcenter.ecg.quality import Problem, Severity, Verdict, assess_quality
from sharedcenter.ecg.record import record_from_bytes
from sharedcenter.ecg.write import TWELVE_LEAD_SOP_CLASS, write_wfdb
from sharedcenter.services import Services
from tests.conftest import login
from tests.data_paths import require_data, wfdb_files


def _cinc(name: str) -> dict[str, bytes]:
    return wfdb_files(require_data("ecg12_cinc", "records"), name)


def _post(api: httpx.Client, files: dict[str, bytes], who: str = "tech") -> httpx.Response:
    return api.post("/api/ecg", headers=login(api, who),
                    files=[("files", (name, data, "application/octet-stream")) for name, data in files.items()])


def test_clean_record_is_acceptable() -> None:
    report = assess_quality(read_ecg(_cinc("A0001")))
    assert report.verdict is not Verdict.REPEAT_RECORDING
    assert report.leads_with(Severity.REPEAT) == []


def test_zero_leads_in_the_source_data_ask_for_a_repeat() -> None:
    report = assess_quality(read_ecg(_cinc("JS20008")))
    assert report.verdict is Verdict.REPEAT_RECORDING
    assert report.leads_with(Severity.REPEAT) == ["V2", "V4", "V6"]
    assert all("直线" in reason for reason in report.reasons_zh)


def test_limb_lead_reversal_pattern() -> None:
    record = read_ecg(_cinc("A0003"))  # CPSC 2018, normal axis
    swapped = record.signal.copy()
    i, ii, iii, avr, avl, avf = (record.leads.index(n) for n in ("I", "II", "III", "aVR", "aVL", "aVF"))
    # LA/RA swapped: I -> -I, II <-> III, aVR <-> aVL, aVF unchanged
    swapped[:, i], swapped[:, ii], swapped[:, iii] = -record.signal[:, i], record.signal[:, iii], record.signal[:, ii]
    swapped[:, avr], swapped[:, avl] = record.signal[:, avl], record.signal[:, avr]
    report = assess_quality(dataclasses.replace(record, signal=swapped))
    assert [f.problem for f in report.findings if f.lead == "I/aVR"] == [Problem.LIMB_LEAD_REVERSAL]
    assert not [f for f in assess_quality(record).findings if f.problem is Problem.LIMB_LEAD_REVERSAL and
                f.severity is Severity.REPEAT]


def test_noise_saturation_and_wander_are_found() -> None:
    record = read_ecg(_cinc("A0001"))
    t = np.arange(record.n_samples) / record.fs
    signal = record.signal.copy()
    v1, v2, v3 = (record.leads.index(n) for n in ("V1", "V2", "V3"))
    signal[:, v1] += (0.5 * np.sin(2 * np.pi * 50 * t)).astype(np.float32)  # mains hum
    signal[:, v2] = np.clip(signal[:, v2], -0.05, 0.05)  # clipped
    signal[:, v3] += (3.0 * np.sin(2 * np.pi * 0.2 * t)).astype(np.float32)  # breathing drift
    found = {(f.lead, f.problem) for f in assess_quality(dataclasses.replace(record, signal=signal)).findings}
    assert {("V1", Problem.HIGH_FREQUENCY_NOISE), ("V2", Problem.SATURATION), ("V3", Problem.BASELINE_WANDER)} <= found


def test_zeroed_lead_upload_says_repeat_recording_and_stores_everything(api: httpx.Client,
                                                                        services: Services) -> None:
    record = read_ecg(_cinc("A0001"))
    signal = record.signal.copy()
    signal[:, record.leads.index("V3")] = 0
    files = write_wfdb(dataclasses.replace(record, signal=signal), "zeroed")
    response = _post(api, files)
    assert response.status_code == 201, response.text
    body = response.json()
    quality = body["quality"]
    assert quality["verdict"] == "repeat_recording" and quality["verdict_zh"] == "请重新采集"
    repeat = [(f["lead"], f["problem"]) for f in quality["findings"] if f["severity"] == "repeat"]
    assert repeat == [("V3", "flat_line")]
    assert "V3" in quality["reasons_en"][0] and "V3" in quality["reasons_zh"][0]
    with services.db.session() as session:
        study = session.get(Study, body["id"])
        assert study is not None and study.state == "received" and study.kind == "ecg"
        [row] = session.scalars(select(AIResult).where(AIResult.study_id == study.id)).all()
        assert row.algorithm == "sharedcenter.ecg-quality" and row.measurements["verdict"] == "repeat_recording"
        key = study.ecg_record_key
    stored = services.object_store.get(f"ecg/records/{key}.npz")
    assert record_from_bytes(stored).leads == record.leads
    manifest = json.loads(services.object_store.get(f"ecg/records/{key}.json"))
    waveform = read_ecg({"w.dcm": services.dicom_store.fetch(manifest["dicom"]["store_id"])})
    assert waveform.leads == record.leads and waveform.metadata["sop_class_uid"] == TWELVE_LEAD_SOP_CLASS
    again = _post(api, files)
    assert again.status_code == 200 and again.json()["duplicate"]
    assert again.json()["quality"]["verdict"] == "repeat_recording"


def _counts(services: Services) -> tuple[int, int]:
    with services.db.session() as session:
        studies = session.scalar(select(func.count()).select_from(Study)) or 0
    files = sum(1 for p in services.settings.data_dir.rglob("*") if p.is_file() and "broker" not in p.parts
                and p.suffix not in {".db", ".sqlite", ".sqlite3", ".db-journal", ".db-wal", ".db-shm"})
    return studies, files


def test_bad_ecg_uploads_are_422_and_store_nothing(api: httpx.Client, services: Services) -> None:
    files = _cinc("A0001")
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("../../etc/A0001.hea", files["A0001.hea"])
    header = files["A0001.hea"].decode().replace("A0001 12 500 7500", "A0001 12 500 9000", 1).encode()
    cases = [
        ({"A0001.hea": header, "A0001.mat": files["A0001.mat"]}, "promises"),
        ({"A0001.hea": files["A0001.hea"], "A0001.mat": files["A0001.mat"][:3000]}, "promises"),
        ({"evil.zip": zipped.getvalue()}, "unsafe path"),
        ({"bomb.xml": b'<!DOCTYPE a [<!ENTITY x "x">]><AnnotatedECG xmlns="urn:hl7-org:v3">&x;</AnnotatedECG>'},
         "refused"),
        ({"notes.txt": b"hello"}, "known ECG format"),
    ]
    _post(api, {"warmup.txt": b"x"})
    before = _counts(services)
    for upload, message in cases:
        response = _post(api, upload)
        assert response.status_code == 422, response.text
        assert message in response.text
    assert _counts(services) == before
