"""A signed report version as DICOM: Encapsulated PDF (the signed PDF) and a Comprehensive SR.

Both objects go into the study they report on (the same StudyInstanceUID).  Their UIDs derive from
the version's verification id, so exporting the same version again yields the very same instances
(storing them again is harmless).  An ECG study takes the StudyInstanceUID of its DICOM waveform
when the ECG store has one, else a UID derived from its record key (stable, never stored twice).

The SR keeps the human and the machine apart, as TID 1001 does: the signer is the verifying
observer and the person observer of the report; the AI pre-read sits in its own container with a
device observer (algorithm name and version), labelled preliminary.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import io
import json
import logging

import highdicom as hd
import pydicom
from pydicom.dataset import Dataset, FileMetaDataset
from pydicom.sequence import Sequence as DicomSequence
from pydicom.sr.coding import Code
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from sharedcenter import __version__
from sharedcenter.db.models import AIResult, Report, Study, User
from sharedcenter.errors import InvalidInput, NotFound, StorageError
from sharedcenter.services import Services

__all__ = ["ENCAPSULATED_PDF_STORAGE", "ReportObjects", "build_report_objects", "report_study_uid"]

logger = logging.getLogger(__name__)

ENCAPSULATED_PDF_STORAGE = "1.2.840.10008.5.1.4.1.1.104.1"
_MANUFACTURER = "sharedcenter"
_IMAGING_REPORT = Code("18748-4", "LN", "Diagnostic imaging study")
_ECG_REPORT = Code("11524-6", "LN", "EKG study")
_FINDINGS = Code("121070", "DCM", "Findings")
_IMPRESSIONS = Code("121072", "DCM", "Impressions")
_FINDING = Code("121071", "DCM", "Finding")
_IMPRESSION = Code("121073", "DCM", "Impression")
_PRELIMINARY = Code("121076", "DCM", "Conclusions")
_AMENDMENT = Code("121106", "DCM", "Comment")


@dataclasses.dataclass(frozen=True, slots=True)
class ReportObjects:
    """The two DICOM Part 10 files of one signed report version and their UIDs."""

    study_instance_uid: str
    pdf: bytes
    pdf_uids: tuple[str, str, str]
    sr: bytes
    sr_uids: tuple[str, str, str]


def _uid(*parts: str) -> str:
    return str(generate_uid(entropy_srcs=["sharedcenter", *parts]))


def _waveform_header(services: Services, study: Study) -> Dataset | None:
    """The header of the ECG's DICOM waveform, when the ECG record's manifest names one."""
    if not study.ecg_record_key:
        return None
    try:
        manifest = json.loads(services.object_store.get(f"ecg/records/{study.ecg_record_key}.json"))
        store_id = str(manifest["dicom"]["store_id"])
        data = services.dicom_store.fetch(store_id)
    except (NotFound, KeyError, TypeError, ValueError, StorageError):
        return None
    return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)


def _image_header(services: Services, study: Study) -> Dataset | None:
    if not study.study_instance_uid:
        return None
    ids = services.dicom_store.instance_ids(study.study_instance_uid)
    if not ids:
        return None
    return pydicom.dcmread(io.BytesIO(services.dicom_store.fetch(ids[0])), stop_before_pixels=True)


def report_study_uid(services: Services, study: Study) -> str:
    """The StudyInstanceUID the report objects join (see the module docstring)."""
    if study.study_instance_uid:
        return study.study_instance_uid
    header = _waveform_header(services, study)
    if header is not None and header.get("StudyInstanceUID"):
        return str(header.StudyInstanceUID)
    return _uid("ecg-study", study.ecg_record_key or str(study.id))


def _study_header(study: Study, study_uid: str) -> Dataset:
    """Patient and study attributes from the Study row (when no stored instance can lend them)."""
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.PatientID, ds.PatientName = study.patient_id, study.patient_name
    ds.PatientBirthDate, ds.PatientSex = "", ""
    ds.StudyInstanceUID = study_uid
    ds.StudyDate = study.received_at.strftime("%Y%m%d")
    ds.StudyTime = study.received_at.strftime("%H%M%S")
    ds.StudyID, ds.AccessionNumber, ds.ReferringPhysicianName = str(study.id)[:16], "", ""
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.9.1.1"  # 12-lead ECG waveform: what the study holds
    ds.SOPInstanceUID = _uid("ecg-reference", study.ecg_record_key or str(study.id))
    ds.SeriesInstanceUID = _uid("ecg-series", study.ecg_record_key or str(study.id))
    return ds


def _evidence(services: Services, study: Study, study_uid: str) -> tuple[Dataset, bool]:
    """A header to copy patient and study from, and whether it is a real stored instance."""
    header = _image_header(services, study) or _waveform_header(services, study)
    if header is None or str(header.get("StudyInstanceUID", "")) != study_uid:
        return _study_header(study, study_uid), False
    header.SpecificCharacterSet = "ISO_IR 192"
    for keyword in ("PatientBirthDate", "PatientSex", "AccessionNumber", "ReferringPhysicianName", "StudyID",
                    "StudyDate", "StudyTime", "PatientName", "PatientID"):
        if keyword not in header:
            setattr(header, keyword, "")
    return header, True


def _person(signer: User, organisation: str) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121006", "DCM", "Person"),
        observer_identifying_attributes=hd.sr.PersonObserverIdentifyingAttributes(
            name=_pn(signer), login_name=signer.username,
            organization_name=organisation),
    )


def _device(ai: AIResult) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=hd.sr.CodedConcept("121007", "DCM", "Device"),
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_uid("algorithm", ai.algorithm, ai.algorithm_version), name=ai.algorithm[:64],
            manufacturer_name=_MANUFACTURER, model_name=ai.algorithm_version[:64]),
    )


def _text(name: Code, value: str) -> hd.sr.TextContentItem:
    return hd.sr.TextContentItem(name=name, value=value or "-", relationship_type="CONTAINS")


def _section(name: Code, item_name: Code, value: str) -> hd.sr.ContainerContentItem:
    section = hd.sr.ContainerContentItem(name=name, relationship_type="CONTAINS")
    section.ContentSequence = DicomSequence([_text(item_name, value)])
    return section


def _ai_section(ai: AIResult) -> hd.sr.ContainerContentItem:
    """The AI pre-read, observed by its device and labelled preliminary (never the verified text)."""
    section = hd.sr.ContainerContentItem(name=_PRELIMINARY, relationship_type="CONTAINS")
    context = hd.sr.ObservationContext(observer_device_context=_device(ai))
    text = f"AI 初步结果（仅供参考，非诊断报告）：{ai.preliminary_text or '-'}"
    section.ContentSequence = DicomSequence([*context, _text(_FINDING, text)])
    return section


def _sr_content(study: Study, report: Report, signer: User, organisation: str) -> hd.sr.ContainerContentItem:
    """A TID 2000-like report: observer context, findings, impressions, the AI pre-read apart."""
    root = hd.sr.ContainerContentItem(name=_ECG_REPORT if study.ecg_record_key else _IMAGING_REPORT,
                                      template_id="2000")
    items: list[Dataset] = [*hd.sr.ObservationContext(observer_person_context=_person(signer, organisation))]
    items.append(_section(_FINDINGS, _FINDING, report.findings))
    items.append(_section(_IMPRESSIONS, _IMPRESSION, report.impression))
    if report.amendment_reason:
        items.append(_text(_AMENDMENT, f"更正原因：{report.amendment_reason}"))
    items.extend(_ai_section(ai) for ai in study.ai_results)
    root.ContentSequence = DicomSequence(items)
    return root


def _signed_at(report: Report) -> dt.datetime:
    assert report.signed_at is not None
    at = report.signed_at
    return at if at.tzinfo else at.replace(tzinfo=dt.UTC)


def _build_sr(study: Study, report: Report, signer: User, organisation: str, evidence: Dataset,
              real: bool) -> tuple[bytes, tuple[str, str, str]]:
    key = str(report.verification_id)
    series, sop = _uid("sr-series", key), _uid("sr", key)
    sr = hd.sr.ComprehensiveSR(
        evidence=[evidence], content=_sr_content(study, report, signer, organisation),
        series_instance_uid=series, series_number=9001, sop_instance_uid=sop, instance_number=report.version,
        manufacturer=_MANUFACTURER, is_complete=True, is_final=True, is_verified=True,
        institution_name=organisation, verifying_observer_name=_pn(signer),
        verifying_organization=organisation, record_evidence=real,
        content_date=_signed_at(report).date(), content_time=_signed_at(report).time(),
        series_description=f"诊断报告 v{report.version}",
    )
    sr.VerificationDateTime = _signed_at(report).strftime("%Y%m%d%H%M%S")
    return _part10(sr), (str(sr.StudyInstanceUID), series, sop)


def _pn(user: User) -> str:
    """The user's display name as a one-component DICOM person name (family name, trailing caret)."""
    return (user.display_name or user.username).replace("^", " ")[:63] + "^"


def _patient_and_study(ds: Dataset, evidence: Dataset) -> None:
    for keyword in ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "StudyInstanceUID",
                    "StudyDate", "StudyTime", "StudyID", "AccessionNumber", "ReferringPhysicianName"):
        setattr(ds, keyword, evidence.get(keyword, ""))


def _build_pdf(report: Report, signer: User, organisation: str, pdf: bytes,
               evidence: Dataset) -> tuple[bytes, tuple[str, str, str]]:
    key, at = str(report.verification_id), _signed_at(report)
    ds = Dataset()
    ds.SpecificCharacterSet = "ISO_IR 192"
    ds.SOPClassUID = ENCAPSULATED_PDF_STORAGE
    ds.SOPInstanceUID, ds.SeriesInstanceUID = _uid("pdf", key), _uid("pdf-series", key)
    _patient_and_study(ds, evidence)
    ds.Modality, ds.SeriesNumber, ds.InstanceNumber = "DOC", 9002, report.version
    ds.Manufacturer, ds.ConversionType = _MANUFACTURER, "WSD"
    ds.ContentDate, ds.ContentTime = at.strftime("%Y%m%d"), at.strftime("%H%M%S")
    ds.AcquisitionDateTime = at.strftime("%Y%m%d%H%M%S")
    ds.BurnedInAnnotation = "YES"
    ds.DocumentTitle = f"诊断报告 v{report.version}（{organisation}，{_pn(signer)} 签署）"[:64]
    ds.ConceptNameCodeSequence = [_code_item("18748-4", "LN", "Diagnostic imaging report")]
    ds.MIMETypeOfEncapsulatedDocument = "application/pdf"
    ds.EncapsulatedDocument = pdf + (b"\0" if len(pdf) % 2 else b"")
    ds.EncapsulatedDocumentLength = len(pdf)
    ds.InstanceCreationDate, ds.InstanceCreationTime = ds.ContentDate, ds.ContentTime
    return _part10(ds), (str(ds.StudyInstanceUID), str(ds.SeriesInstanceUID), str(ds.SOPInstanceUID))


def _code_item(value: str, scheme: str, meaning: str) -> Dataset:
    item = Dataset()
    item.CodeValue, item.CodingSchemeDesignator, item.CodeMeaning = value, scheme, meaning
    return item


def _part10(ds: Dataset) -> bytes:
    meta = FileMetaDataset()
    meta.MediaStorageSOPClassUID, meta.MediaStorageSOPInstanceUID = ds.SOPClassUID, ds.SOPInstanceUID
    meta.TransferSyntaxUID = ExplicitVRLittleEndian
    meta.ImplementationClassUID = UID(_uid("implementation", __version__))
    ds.file_meta = meta
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()


def build_report_objects(services: Services, study: Study, report: Report, signer: User, organisation: str,
                         signed_pdf: bytes) -> ReportObjects:
    """The Encapsulated PDF and the SR of a signed version, ready to store in the study.

    Parameters
    ----------
    organisation
        The signer's organisation (their center's name): the SR's verifying organisation.
    signed_pdf
        The PAdES-signed PDF exactly as stored (its bytes are what the DICOM object carries).

    Raises
    ------
    InvalidInput
        The version is not signed (no verification id or signing time).
    """
    if not report.verification_id or report.signed_at is None:
        raise InvalidInput(f"report {report.id} is not signed; only signed versions go to the DICOM store")
    study_uid = report_study_uid(services, study)
    evidence, real = _evidence(services, study, study_uid)
    sr, sr_uids = _build_sr(study, report, signer, organisation, evidence, real)
    pdf, pdf_uids = _build_pdf(report, signer, organisation, signed_pdf, evidence)
    return ReportObjects(study_uid, pdf, pdf_uids, sr, sr_uids)

