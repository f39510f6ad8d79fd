"""The DICOM JSON model (PS3.18 F.2) of studies, series and instances, built with pydicom's
``Dataset.to_json_dict``, and the STOW-RS response."""

from __future__ import annotations

import dataclasses
import io
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pydicom
from pydicom.dataelem import DataElement
from pydicom.dataset import Dataset

from sharedcenter.ecg.detect import DICOM_ERRORS
from sharedcenter.errors import InvalidInput

__all__ = [
    "DICOM_JSON",
    "InstanceRef",
    "instance_json",
    "instance_ref",
    "metadata_json",
    "read_header",
    "series_json",
    "stow_response",
    "study_json",
]

#: the media type of DICOM JSON
DICOM_JSON = "application/dicom+json"

#: header attributes copied into a QIDO-RS study result when the instance has them
_STUDY_TAGS = ("StudyDate", "StudyTime", "AccessionNumber", "ReferringPhysicianName", "StudyID")
_SERIES_TAGS = ("Modality", "SeriesNumber", "SeriesDescription", "BodyPartExamined")
_INSTANCE_TAGS = ("SOPClassUID", "InstanceNumber", "Rows", "Columns", "NumberOfFrames")


@dataclasses.dataclass(frozen=True, slots=True)
class InstanceRef:
    """What a STOW-RS response says of one stored instance."""

    study_instance_uid: str
    series_instance_uid: str
    sop_class_uid: str
    sop_instance_uid: str


def read_header(data: bytes) -> Dataset:
    """The header of a DICOM Part 10 instance (pixel data not read).

    Raises
    ------
    InvalidInput
        The bytes are not readable DICOM.
    """
    try:
        return pydicom.dcmread(io.BytesIO(data), stop_before_pixels=True)
    except DICOM_ERRORS as exc:
        raise InvalidInput(f"not a readable DICOM instance ({exc})") from exc


def instance_ref(ds: Dataset) -> InstanceRef:
    """The UIDs of an instance's header."""
    return InstanceRef(str(ds.get("StudyInstanceUID", "")), str(ds.get("SeriesInstanceUID", "")),
                       str(ds.get("SOPClassUID", "")), str(ds.get("SOPInstanceUID", "")))


def _copy(target: Dataset, source: Dataset, keywords: Sequence[str]) -> None:
    for keyword in keywords:
        if keyword in source:
            setattr(target, keyword, source[keyword].value)


def study_json(study: dict[str, Any], header: Dataset | None, retrieve_url: str) -> dict[str, Any]:
    """A QIDO-RS study result.

    Parameters
    ----------
    study
        ``study_instance_uid``, ``patient_id``, ``patient_name``, ``modality``, ``description``
        and ``instance_count`` of the study's row.
    header
        The header of one of its instances, for the date, time and accession (None when unread).
    retrieve_url
        The study's WADO-RS URL.
    """
    ds = Dataset()
    if header is not None:
        _copy(ds, header, _STUDY_TAGS)
    ds.StudyInstanceUID = study["study_instance_uid"]
    ds.PatientID = study["patient_id"]
    ds.PatientName = study["patient_name"]
    ds.ModalitiesInStudy = [study["modality"]] if study["modality"] else []
    ds.StudyDescription = study["description"]
    ds.NumberOfStudyRelatedInstances = study["instance_count"]
    ds.RetrieveURL = retrieve_url
    return ds.to_json_dict()


def series_json(headers: Sequence[Dataset], study_url: str) -> list[dict[str, Any]]:
    """QIDO-RS series results of a study's instance headers, in series number order."""
    groups: dict[str, list[Dataset]] = defaultdict(list)
    for header in headers:
        groups[str(header.get("SeriesInstanceUID", ""))].append(header)
    out = []
    for uid, members in groups.items():
        ds = Dataset()
        _copy(ds, members[0], _SERIES_TAGS)
        ds.SeriesInstanceUID = uid
        ds.NumberOfSeriesRelatedInstances = len(members)
        ds.RetrieveURL = f"{study_url}/series/{uid}"
        out.append((int(members[0].get("SeriesNumber", 0) or 0), uid, ds.to_json_dict()))
    return [item for _, _, item in sorted(out, key=lambda entry: entry[:2])]


def instance_json(headers: Sequence[Dataset], series_url: str) -> list[dict[str, Any]]:
    """QIDO-RS instance results of one series' instance headers, in instance number order."""
    out = []
    for header in headers:
        ds = Dataset()
        _copy(ds, header, _INSTANCE_TAGS)
        ds.SOPInstanceUID = str(header.get("SOPInstanceUID", ""))
        ds.RetrieveURL = f"{series_url}/instances/{ds.SOPInstanceUID}"
        out.append((int(header.get("InstanceNumber", 0) or 0), ds.SOPInstanceUID, ds.to_json_dict()))
    return [item for _, _, item in sorted(out, key=lambda entry: entry[:2])]


def _no_bulk(element: DataElement) -> str:
    """Large binary values are left out of metadata (a BulkDataURI would need a bulk endpoint)."""
    return ""


def metadata_json(header: Dataset) -> dict[str, Any]:
    """WADO-RS metadata of one instance: its whole header as DICOM JSON, large binaries left out."""
    body = header.to_json_dict(bulk_data_threshold=4096, bulk_data_element_handler=_no_bulk)
    return {tag: value for tag, value in body.items() if value.get("BulkDataURI") != ""}


def _referenced(ref: InstanceRef, base_url: str) -> Dataset:
    ds = Dataset()
    ds.ReferencedSOPClassUID = ref.sop_class_uid
    ds.ReferencedSOPInstanceUID = ref.sop_instance_uid
    ds.RetrieveURL = (f"{base_url}/studies/{ref.study_instance_uid}/series/{ref.series_instance_uid}"
                      f"/instances/{ref.sop_instance_uid}")
    return ds


def stow_response(refs: Sequence[InstanceRef], base_url: str) -> dict[str, Any]:
    """The STOW-RS response: the stored instances and, for a single study, its RetrieveURL.

    Parameters
    ----------
    refs
        The instances stored (or already held: re-sending is harmless).
    base_url
        The DICOMweb root, e.g. ``https://host/dicomweb``.
    """
    ds = Dataset()
    studies = {ref.study_instance_uid for ref in refs}
    if len(studies) == 1:
        ds.RetrieveURL = f"{base_url}/studies/{next(iter(studies))}"
    ds.ReferencedSOPSequence = [_referenced(ref, base_url) for ref in refs]
    return ds.to_json_dict()
