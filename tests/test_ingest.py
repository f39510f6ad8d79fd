"""Ingest on the embedded adapters: durable storage, Study rows, duplicates, queueing after commit."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from sqlalchemy import func, select

from sharedcenter.auth import Principal
from sharedcenter.db import AuditEvent, Order, Study
from sharedcenter.errors import Conflict, InvalidInput, NotFound, UnsupportedFormat
from sharedcenter.services import Services
from sharedcenter.studies import UploadedFile, ecg_record_key, ingest_upload
from tests.utils import dicom_bytes, simulated_wfdb


def _queued(services: Services) -> list[dict]:
    """Messages waiting in the embedded (filesystem) broker: the real transport, read back."""
    out = []
    for path in sorted((services.settings.broker_folder / "out").glob("*.msg")):
        body = json.loads(path.read_text())
        out.append(body["headers"] | {"queue": body["properties"]["delivery_info"]["routing_key"]})
    return out


def _counts(services: Services) -> tuple[int, int, int]:
    with services.db.session() as s:
        studies = s.scalar(select(func.count()).select_from(Study))
        events = s.scalar(select(func.count()).select_from(AuditEvent))
    files = sum(1 for p in services.settings.data_dir.rglob("*") if p.is_file() and "broker" not in p.parts)
    return studies or 0, events or 0, files


def test_dicom_study_is_stored_and_queued_after_commit(services: Services, people: dict[str, Principal]) -> None:
    a = dicom_bytes("CT_small.dcm", AccessionNumber="ACC1")
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", [UploadedFile("a.dcm", a)])
        assert outcome.created and not outcome.duplicate and outcome.new_files == 1
        assert _queued(services) == []  # nothing leaves before the commit
        uid = outcome.study.study_instance_uid
    [msg] = _queued(services)
    assert msg["task"] == "worker.preread" and msg["queue"] == "gpu"
    with services.db.session() as session:
        study = session.scalar(select(Study).where(Study.study_instance_uid == uid))
        assert study is not None
        assert (study.kind, study.state, study.center_code, study.modality) == ("dicom", "received", "c01-img", "CT")
        assert study.order is not None and study.order.accession_number == "ACC1"
        assert study.instance_count == 1 and study.complete
    assert len(services.dicom_store.instance_ids(str(uid))) == 1


def test_rollback_sends_nothing(services: Services, people: dict[str, Principal]) -> None:
    with pytest.raises(RuntimeError), services.db.session() as session:
        ingest_upload(services, session, "c01-t01", [UploadedFile("a.dcm", dicom_bytes())])
        raise RuntimeError("request failed after ingest")
    assert _queued(services) == []
    with services.db.session() as session:
        assert session.scalar(select(func.count()).select_from(Study)) == 0
        assert session.scalar(select(func.count()).select_from(Order)) == 0  # nor the order made for it


def test_resend_is_harmless_and_returns_the_study(services: Services, people: dict[str, Principal]) -> None:
    data = dicom_bytes()
    with services.db.session() as session:
        [first] = ingest_upload(services, session, "c01-t01", [UploadedFile("a.dcm", data)])
    with services.db.session() as session:
        [again] = ingest_upload(services, session, "c01-t01", [UploadedFile("a.dcm", data)])
        assert again.duplicate and not again.created and again.study.id == first.study.id
        assert again.study.instance_count == 1
    with services.db.session() as session, pytest.raises(Conflict, match="another site"):
        ingest_upload(services, session, "c01-t02", [UploadedFile("a.dcm", data)])


def test_instances_join_their_study(services: Services, people: dict[str, Principal]) -> None:
    a = dicom_bytes("CT_small.dcm")
    uid = "1.2.826.0.1.3680043.8.498.1"
    files = [UploadedFile(f"{i}.dcm", dicom_bytes("CT_small.dcm", study_uid=uid)) for i in range(3)]
    with services.db.session() as session:
        outcomes = ingest_upload(services, session, "c01-t01", [*files, UploadedFile("other.dcm", a)])
    assert sorted(o.new_files for o in outcomes) == [1, 3]


def test_bad_files_reject_the_whole_upload(services: Services, people: dict[str, Principal]) -> None:
    before = _counts(services)
    good = UploadedFile("good.dcm", dicom_bytes())
    cases = [
        ([good, UploadedFile("notes.txt", b"hello, not an exam")], UnsupportedFormat, "notes.txt"),
        ([good, UploadedFile("half.dcm", dicom_bytes()[:300])], InvalidInput, "half.dcm"),
        ([], InvalidInput, "no files"),
    ]
    for files, error, message in cases:
        with services.db.session() as session, pytest.raises(error, match=message):
            ingest_upload(services, session, "c01-t01", files)
    with services.db.session() as session, pytest.raises(NotFound, match="no active site"):
        ingest_upload(services, session, "nowhere", [good])
    assert _counts(services) == before


def test_ecg_record_is_kept_under_its_content_hash(services: Services, people: dict[str, Principal],
                                                   tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    uploads = [UploadedFile(n, d) for n, d in files.items()]
    with services.db.session() as session:
        [outcome] = ingest_upload(services, session, "c01-t01", uploads)
        assert (outcome.study.kind, outcome.study.center_code) == ("ecg", "c01-ecg")
        key = outcome.study.ecg_record_key
    assert key == ecg_record_key(files)
    manifest = json.loads(services.object_store.get(f"ecg/records/{key}.json"))
    assert manifest["leads"][:2] == ["I", "II"] and manifest["fs"] == 500
    for name, digest in manifest["files"].items():
        assert services.object_store.get(f"ecg/original/{digest}") == files[name]
    assert [m["queue"] for m in _queued(services)] == ["cpu"]
    with services.db.session() as session:
        [again] = ingest_upload(services, session, "c01-t01", list(reversed(uploads)))
        assert again.duplicate and again.study.id == outcome.study.id


def test_wfdb_header_without_its_signal_file(services: Services, people: dict[str, Principal],
                                             tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    with services.db.session() as session, pytest.raises(InvalidInput, match="needs signal file 'sim.dat'"):
        ingest_upload(services, session, "c01-t01", [UploadedFile("sim.hea", files["sim.hea"])])


def test_every_ecg_format_becomes_one_study_with_its_quality(services: Services, people: dict[str, Principal],
                                                            tmp_path: Path) -> None:
    """WFDB (simulated), its zip, aECG, SCP-ECG (written from it) and a DICOM waveform in one upload."""
    import io
    import zipfile

    from sharedcenter.db import AIResult
    from sharedcenter.ecg import read_ecg
    from sharedcenter.ecg.aecg import write_aecg
    from sharedcenter.ecg.scp import write_scp

    files = simulated_wfdb(tmp_path, seed=5)
    record = read_ecg(files)
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        for name, data in simulated_wfdb(tmp_path / "z", name="zz", seed=6).items():
            archive.writestr(name, data)
    uploads = [UploadedFile(n, d) for n, d in files.items()] + [
        UploadedFile("a.bin", write_aecg(record)), UploadedFile("b.bin", write_scp(record)),
        UploadedFile("c.bin", zipped.getvalue()), UploadedFile("d.bin", dicom_bytes("waveform_ecg.dcm")),
    ]
    with services.db.session() as session:
        outcomes = ingest_upload(services, session, "c01-t01", uploads)
        assert [o.study.kind for o in outcomes] == ["ecg"] * 5
        assert all(o.quality is not None and o.quality["verdict"] for o in outcomes)
        ids = [o.study.id for o in outcomes]
    with services.db.session() as session:
        rows = session.scalars(select(AIResult).where(AIResult.study_id.in_(ids))).all()
        assert sorted(r.study_id for r in rows) == sorted(ids)
        assert {r.algorithm for r in rows} == {"sharedcenter.ecg-quality"}
        assert {s.state for s in session.scalars(select(Study))} == {"received"}


def test_bad_ecg_in_an_upload_stores_nothing(services: Services, people: dict[str, Principal],
                                             tmp_path: Path) -> None:
    files = simulated_wfdb(tmp_path)
    before = _counts(services)
    truncated = {"sim.hea": files["sim.hea"], "sim.dat": files["sim.dat"][:1000]}
    with services.db.session() as session, pytest.raises(InvalidInput, match="promises"):
        ingest_upload(services, session, "c01-t01", [UploadedFile(n, d) for n, d in truncated.items()])
    with services.db.session() as session, pytest.raises(InvalidInput, match="not a waveform"):
        ingest_upload(services, session, "c01-t01", [UploadedFile("x.zip", _zip_of("ct.dcm", dicom_bytes()))])
    assert _counts(services) == before


def _zip_of(name: str, data: bytes) -> bytes:
    import io
    import zipfile

    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr(name, data)
    return out.getvalue()
