"""Ingest: uploaded files become durable DICOM instances or ECG originals, and Study rows.

Every file of an upload is checked before anything is stored, so a bad file rejects the whole
upload and leaves nothing behind; re-sending what is already stored is harmless and returns the
existing study.
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import time
from collections import defaultdict
from typing import Any

import pydicom
from pydicom.tag import BaseTag, Tag
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from sharedcenter.audit import record_event
from sharedcenter.db import savepoint
from sharedcenter.db.models import Site, Study
from sharedcenter.ecg.detect import (
    AECG,
    DICOM_ERRORS,
    SCP_ECG,
    WAVEFORM_SOP_CLASSES,
    ZIP,
    detect_format,
    is_dicom,
    wfdb_signal_files,
)
from sharedcenter.ecg.quality import assess_quality
from sharedcenter.ecg.read import read_ecg
from sharedcenter.ecg.record import EcgRecord, record_to_bytes
from sharedcenter.ecg.write import write_dicom_ecg
from sharedcenter.enums import AuditAction, ExamType, PrereadReason, Priority, StudyKind, StudyState
from sharedcenter.errors import Conflict, InvalidInput, NotFound, UnsupportedFormat
from sharedcenter.services import Services
from sharedcenter.studies.completion import expected_count_reached, queue_complete
from sharedcenter.studies.orders import ORDER_MADE_FOR_STUDY, exam_for_modality, match_or_create_order
from sharedcenter.studies.quality import record_quality

__all__ = [
    "IngestOutcome",
    "UploadedFile",
    "create_study",
    "dicom_fields",
    "ecg_record_key",
    "ingest_dicom",
    "ingest_ecg",
    "ingest_upload",
    "split_upload",
]


#: what ingest reads of a DICOM header (reading only these is several times faster than all of it)
_INGEST_TAGS: list[BaseTag] = [Tag(keyword) for keyword in (
    "SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "AccessionNumber", "PatientID",
    "PatientName", "Modality", "StudyDescription", "StudyDate", "WaveformSequence",
)]


#: ECG formats that come as one file each (a zip carries a whole record)
_SINGLE_FILE_ECG = frozenset({AECG, SCP_ECG, ZIP})


@dataclasses.dataclass(frozen=True, slots=True)
class UploadedFile:
    name: str
    data: bytes


@dataclasses.dataclass(slots=True)
class IngestOutcome:
    study: Study
    created: bool
    duplicate: bool
    new_files: int
    #: the upload-time signal quality report of an ECG (``QualityReport.to_json()``)
    quality: dict[str, Any] | None = None


@dataclasses.dataclass(slots=True)
class _Header:
    file: UploadedFile
    ds: pydicom.Dataset


def split_upload(files: list[UploadedFile]) -> tuple[list[_Header], list[dict[str, bytes]]]:
    """Sort an upload into DICOM images (headers parsed, once) and ECG records, by content.

    Raises
    ------
    UnsupportedFormat
        Naming each file that is neither DICOM nor part of a known ECG record.
    InvalidInput
        A DICOM file that cannot be read, or a WFDB header whose signal file is missing.
    """
    if not files:
        raise InvalidInput("the upload has no files")
    by_name = {f.name: f for f in files}
    if len(by_name) != len(files):
        raise InvalidInput("the upload names the same file twice")
    images: list[_Header] = []
    ecgs: list[dict[str, bytes]] = []
    used: set[str] = set()
    for f in files:
        kind = detect_format(f.name, f.data)
        if kind == "dicom":
            used.add(f.name)
            head = _read_header(f)
            if _is_waveform(head.ds):
                ecgs.append({f.name: f.data})
            else:
                images.append(head)
        elif kind in _SINGLE_FILE_ECG:
            used.add(f.name)
            ecgs.append({f.name: f.data})
        elif kind == "wfdb-header":
            group = {f.name: f.data}
            for sig in wfdb_signal_files(f.data):
                if sig not in by_name:
                    raise InvalidInput(f"WFDB record {f.name} needs signal file {sig!r}, not in the upload")
                group[sig] = by_name[sig].data
            used.update(group)
            ecgs.append(group)
    unknown = [f.name for f in files if f.name not in used]
    if unknown:
        raise UnsupportedFormat(f"not DICOM nor a known ECG format: {', '.join(unknown)}")
    return images, ecgs


def _is_waveform(ds: pydicom.Dataset) -> bool:
    return str(ds.get("SOPClassUID", "")) in WAVEFORM_SOP_CLASSES or "WaveformSequence" in ds


def _active_site(session: Session, site_code: str) -> Site:
    site = session.get(Site, site_code)
    if site is None or not site.active:
        raise NotFound(f"no active site {site_code!r}")
    return site


def _read_header(f: UploadedFile) -> _Header:
    try:
        ds = pydicom.dcmread(io.BytesIO(f.data), stop_before_pixels=True, specific_tags=_INGEST_TAGS)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"{f.name}: not a readable DICOM file ({exc})") from exc
    for tag in ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID"):
        if not str(ds.get(tag, "")).strip():
            raise InvalidInput(f"{f.name}: DICOM file has no {tag}")
    return _Header(f, ds)


def create_study(services: Services, session: Session, site: Site, kind: StudyKind, ds_like: dict[str, str],
               source: str) -> Study:
    exam = ExamType.ECG_12LEAD if kind is StudyKind.ECG else exam_for_modality(ds_like["modality"])
    order = match_or_create_order(
        session, services.settings, site_code=site.code, accession_number=ds_like["accession"],
        patient_id=ds_like["patient_id"], patient_name=ds_like["patient_name"], exam=exam,
        modality=ds_like["modality"], study_date=ds_like.get("study_date", ""),
    )
    priority = Priority(order.priority)
    study = Study(
        kind=kind.value, state=StudyState.RECEIVED.value, site_code=site.code, order_id=order.id,
        center_code=site.ecg_center_code if kind is StudyKind.ECG else site.imaging_center_code,
        patient_id=ds_like["patient_id"], patient_name=ds_like["patient_name"],
        modality=ds_like["modality"], description=ds_like["description"][:200], priority=priority.value,
        priority_rank=priority.rank, due_at=order.due_at, source=source,
    )
    session.add(study)
    if order.created_by != ORDER_MADE_FOR_STUDY:
        # a placed order (API, CLI, worklist) answered by this study: say which and how it matched
        session.flush()
        by = "accession" if ds_like["accession"] and ds_like["accession"] == order.accession_number else "patient"
        record_event(session, "system", AuditAction.ORDER_MATCHED, "order", order.id, study_id=study.id,
                     detail={"by": by, "accession_number": order.accession_number or ""})
    return study


def dicom_fields(ds: pydicom.Dataset) -> dict[str, str]:
    return {
        "accession": str(ds.get("AccessionNumber", "") or ""),
        "patient_id": str(ds.get("PatientID", "") or ""),
        "patient_name": str(ds.get("PatientName", "") or ""),
        "modality": str(ds.get("Modality", "") or ""),
        "description": str(ds.get("StudyDescription", "") or ""),
        "study_date": str(ds.get("StudyDate", "") or ""),
    }


def ingest_dicom(
    services: Services, session: Session, site_code: str, files: list[UploadedFile], *,
    complete: bool = True, source: str = "upload", actor: str = "system",
) -> list[IngestOutcome]:
    """Store DICOM instances and create or extend their studies; queue the pre-read when complete."""
    return _ingest_headers(services, session, site_code, [_read_header(f) for f in files], complete=complete,
                           source=source, actor=actor)


def _ingest_headers(
    services: Services, session: Session, site_code: str, heads: list[_Header], *,
    complete: bool, source: str, actor: str,
) -> list[IngestOutcome]:
    site = _active_site(session, site_code)
    groups: dict[str, list[_Header]] = defaultdict(list)
    for h in heads:
        groups[str(h.ds.StudyInstanceUID)].append(h)
    existing = {
        s.study_instance_uid: s
        for s in session.scalars(select(Study).where(Study.study_instance_uid.in_(list(groups))))
    }
    for uid, study in existing.items():
        if study.site_code != site.code:
            raise Conflict(f"study {uid} was already received from another site; it cannot be added to")
    return [
        _ingest_dicom_study(services, session, site, uid, heads, existing.get(uid), complete, source, actor)
        for uid, heads in groups.items()
    ]


def _ingest_dicom_study(
    services: Services, session: Session, site: Site, uid: str, heads: list[_Header],
    study: Study | None, complete: bool, source: str, actor: str,
) -> IngestOutcome:
    uids = [(str(h.ds.StudyInstanceUID), str(h.ds.SeriesInstanceUID), str(h.ds.SOPInstanceUID)) for h in heads]
    pending = services.dicom_store.start_store_many([h.file.data for h in heads], uids)
    created = False
    try:  # the study's rows are written while the store works; they commit only once every instance is stored
        if study is None:
            study, created = _create_or_join_dicom_study(services, session, site, uid, heads[0].ds, source)
    except BaseException:
        pending.wait()  # no store left running behind a failed request
        raise
    new_files = sum(s.new for s in pending.result())
    if created:
        record_event(session, actor, AuditAction.STUDY_RECEIVED, "study", study.id, study_id=study.id,
                     detail={"study_instance_uid": uid, "files": len(heads), "source": source})
    elif new_files:
        record_event(session, actor, AuditAction.STUDY_INSTANCES_ADDED, "study", study.id, study_id=study.id,
                     detail={"new": new_files})
    if new_files:
        # counted in SQL, not in Python: batches of one study arriving at once must not overwrite each other's count
        study.instance_count = Study.instance_count + new_files
        session.flush()
    duplicate = not created and new_files == 0
    if duplicate:
        record_event(session, actor, AuditAction.STUDY_DUPLICATE, "study", study.id, study_id=study.id)
    if complete:
        queue_complete(services, session, study, actor, PrereadReason.DECLARED)
    elif not study.complete and expected_count_reached(study):
        queue_complete(services, session, study, actor, PrereadReason.EXPECTED_COUNT)
    return IngestOutcome(study, created, duplicate, new_files)


def _create_or_join_dicom_study(services: Services, session: Session, site: Site, uid: str, ds: pydicom.Dataset,
                                source: str) -> tuple[Study, bool]:
    """The new study for ``uid``, or, when another request made it since we looked, theirs (``created`` False).

    Two requests carrying one new study at once (an agent and a STOW retry, two upload batches) both find no
    study; the second insert fails on the unique StudyInstanceUID, is rolled back to a savepoint (with the
    order it matched or made) and joins the first one's study instead of answering 500.
    """
    try:
        with savepoint(session):
            study = create_study(services, session, site, StudyKind.DICOM, dicom_fields(ds), source)
            study.study_instance_uid = uid
            session.flush()
        return study, True
    except IntegrityError:
        winner = session.scalar(select(Study).where(Study.study_instance_uid == uid))
        if winner is None:
            raise
        if winner.site_code != site.code:
            raise Conflict(f"study {uid} was already received from another site; it cannot be added to") from None
        return winner, False


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def ecg_record_key(files: dict[str, bytes]) -> str:
    """The content hash that names an ECG record: over its files' names and hashes."""
    manifest = "\n".join(f"{name}:{_sha256(data)}" for name, data in sorted(files.items()))
    return _sha256(manifest.encode())


def _ecg_dicom(files: dict[str, bytes], key: str, record: EcgRecord) -> bytes:
    """The DICOM waveform for the DICOM store: the upload itself if it was one, else written from the record."""
    if len(files) == 1:
        [data] = files.values()
        if is_dicom(data):
            return data
    return write_dicom_ecg(record, seed=key)


def _store_ecg_originals(services: Services, key: str, files: dict[str, bytes], record: EcgRecord) -> None:
    """Originals under their hash, the canonical record and a manifest beside them, the waveform in the DICOM store."""
    store = services.object_store
    hashes = {}
    for name, data in files.items():
        digest = hashes[name] = _sha256(data)
        if not store.exists(f"ecg/original/{digest}"):
            store.put(f"ecg/original/{digest}", data)
    store.put(f"ecg/records/{key}.npz", record_to_bytes(record))
    stored = services.dicom_store.store(_ecg_dicom(files, key, record))
    manifest = {
        "files": hashes, "format": record.source_format, "fs": record.fs, "leads": list(record.leads),
        "samples": int(record.signal.shape[0]), "canonical": f"ecg/records/{key}.npz",
        "derived_leads": list(record.derived_leads), "dicom": {"store_id": stored.store_id},
    }
    store.put(f"ecg/records/{key}.json", json.dumps(manifest, sort_keys=True).encode(), "application/json")


def _quality(record: EcgRecord) -> dict[str, Any]:
    start = time.perf_counter()
    quality = assess_quality(record).to_json()
    quality["timings"] = {"quality_s": round(time.perf_counter() - start, 4)}
    return quality


def ingest_ecg(
    services: Services, session: Session, site_code: str, files: dict[str, bytes], *,
    source: str = "upload", actor: str = "system", record: EcgRecord | None = None,
    quality: dict[str, Any] | None = None,
) -> IngestOutcome:
    """Store one ECG record's original bytes under their content hash and create its study.

    ``record`` is the already parsed form of ``files`` and ``quality`` its quality report, when
    the caller has them.  The quality report is stored as an AIResult row (algorithm
    ``sharedcenter.ecg-quality``) in the same transaction, without changing the study's state.
    """
    site = _active_site(session, site_code)
    record = record if record is not None else read_ecg(files)
    quality = quality if quality is not None else _quality(record)
    key = ecg_record_key(files)
    study = session.scalar(select(Study).where(Study.ecg_record_key == key))
    if study is not None:
        if study.site_code != site.code:
            raise Conflict("this ECG record was already received from another site")
        record_event(session, actor, AuditAction.STUDY_DUPLICATE, "study", study.id, study_id=study.id)
        return IngestOutcome(study, created=False, duplicate=True, new_files=0, quality=quality)
    _store_ecg_originals(services, key, files, record)
    fields = {"accession": "", "patient_id": record.patient_id, "patient_name": record.patient_name,
              "modality": "ECG", "description": f"{len(record.leads)}-lead ECG, {record.duration_s:.0f} s"}
    study = create_study(services, session, site, StudyKind.ECG, fields, source)
    study.ecg_record_key, study.instance_count = key, len(files)
    session.flush()
    record_event(session, actor, AuditAction.STUDY_RECEIVED, "study", study.id, study_id=study.id,
                 detail={"ecg_record_key": key, "format": record.source_format, "source": source})
    record_quality(session, study.id, quality)
    queue_complete(services, session, study, actor, PrereadReason.DECLARED)
    return IngestOutcome(study, created=True, duplicate=False, new_files=len(files), quality=quality)


def ingest_upload(
    services: Services, session: Session, site_code: str, files: list[UploadedFile], *,
    complete: bool = True, actor: str = "system",
    split: tuple[list[_Header], list[dict[str, bytes]]] | None = None,
) -> list[IngestOutcome]:
    """Ingest a mixed upload: DICOM images and ECG records in any of the known formats.

    ``split`` is :func:`split_upload` of ``files`` when the caller has it already (headers are
    then not parsed twice).
    """
    images, ecgs = split if split is not None else split_upload(files)
    records = [read_ecg(group) for group in ecgs]  # check every ECG before storing anything
    qualities = [_quality(record) for record in records]
    outcomes = (_ingest_headers(services, session, site_code, images, complete=complete, source="upload",
                                actor=actor) if images else [])
    outcomes += [
        ingest_ecg(services, session, site_code, group, actor=actor, record=record, quality=quality)
        for group, record, quality in zip(ecgs, records, qualities, strict=True)
    ]
    return outcomes
