"""DICOM objects of a chest radiograph pre-read: a TID 1500 Comprehensive SR and a heatmap Secondary Capture.

Both go into the image's own study.  The SR is a Measurement Report (TID 1500) observed by a
device (the algorithm), never verified and never final: AI output is preliminary.  Each model
label becomes a measurement group with the probability (unit "1"), the label's qualitative
evaluation (present / absent at the threshold) and a reference to the source image.  The
Secondary Capture shows the image with the flagged findings' Grad-CAM heatmap blended in colour.
"""

from __future__ import annotations

import copy
import io
from collections.abc import Sequence

import highdicom as hd
import numpy as np
import numpy.typing as npt
from PIL import Image
from pydicom.dataset import Dataset
from pydicom.sr.codedict import codes
from pydicom.uid import UID, ExplicitVRLittleEndian, generate_uid

from pipelines.types import Finding, PrereadResult

__all__ = ["MANUFACTURER", "build_heatmap_sc", "build_sr", "blend"]

MANUFACTURER = "sharedcenter"
_ROOT = "1.2.826.0.1.3680043.10.1415."  # UIDs derived from content (re-running gives the same objects)
_PROBABILITY = hd.sr.CodedConcept("SCPROB", "99SHAREDCENTER", "Probability of finding")
_PRESENT = hd.sr.CodedConcept("373066001", "SCT", "Yes")
_ABSENT = hd.sr.CodedConcept("373067005", "SCT", "No")
_CXR = hd.sr.CodedConcept("36643-5", "LN", "XR Chest 2 Views")


def _evidence(source: Dataset) -> Dataset:
    """A copy of the source header whose one-component person names carry the trailing caret."""
    header = copy.deepcopy(source)
    for keyword in ("PatientName", "ReferringPhysicianName"):
        value = str(header.get(keyword, "") or "")
        if value and "^" not in value:
            setattr(header, keyword, value + "^")
    return header


def _uid(*parts: str) -> str:
    return str(generate_uid(prefix=_ROOT, entropy_srcs=list(parts)))


def _device(result: PrereadResult) -> hd.sr.ObserverContext:
    return hd.sr.ObserverContext(
        observer_type=codes.DCM.Device,
        observer_identifying_attributes=hd.sr.DeviceObserverIdentifyingAttributes(
            uid=_uid("algorithm", result.algorithm, result.version), name=result.algorithm[:64],
            manufacturer_name=MANUFACTURER, model_name=result.version[:64]))


def _group(finding: Finding, source: Dataset, algorithm: hd.sr.AlgorithmIdentification,
           index: int) -> hd.sr.MeasurementsAndQualitativeEvaluations:
    name = hd.sr.CodedConcept(finding.code[:16], "99SHAREDCENTER", finding.label[:64])
    reference = hd.sr.SourceImageForMeasurement.from_source_image(source)
    measurement = hd.sr.Measurement(name=_PROBABILITY, value=float(finding.probability or 0.0),
                                    unit=codes.UCUM.NoUnits, algorithm_id=algorithm, referenced_images=[reference])
    evaluation = hd.sr.QualitativeEvaluation(name=name, value=_PRESENT if finding.flagged else _ABSENT)
    return hd.sr.MeasurementsAndQualitativeEvaluations(
        tracking_identifier=hd.sr.TrackingIdentifier(uid=_uid("track", str(source.SOPInstanceUID), finding.code),
                                                     identifier=f"{finding.code} #{index}"),
        finding_type=name, algorithm_id=algorithm, measurements=[measurement],
        qualitative_evaluations=[evaluation])


def build_sr(source: Dataset, result: PrereadResult) -> bytes:
    """The TID 1500 Comprehensive SR of ``result`` about image ``source`` (Part 10 bytes).

    Raises
    ------
    ValueError
        ``result`` has no model finding to report.
    """
    model = [f for f in result.findings if f.source == "model"]
    source = _evidence(source)
    if not model:
        raise ValueError("result has no model findings: nothing for a measurement report")
    algorithm = hd.sr.AlgorithmIdentification(name=result.algorithm[:64], version=result.version[:64])
    context = hd.sr.ObservationContext(observer_device_context=_device(result))
    groups = [_group(f, source, algorithm, i) for i, f in enumerate(model, start=1)]
    report = hd.sr.MeasurementReport(observation_context=context, procedure_reported=_CXR,
                                     imaging_measurements=groups)
    key = str(source.SOPInstanceUID)
    sr = hd.sr.ComprehensiveSR(
        evidence=[source], content=report, series_instance_uid=_uid("cxr-sr-series", key), series_number=9101,
        sop_instance_uid=_uid("cxr-sr", key, result.version), instance_number=1, manufacturer=MANUFACTURER,
        is_complete=True, is_final=False, is_verified=False, series_description="AI 预阅（初步）",
    )
    return _part10(sr)


def blend(display: npt.NDArray[np.floating], heatmaps: Sequence[npt.NDArray[np.floating]]) -> npt.NDArray[np.uint8]:
    """RGB picture of ``display`` with the maximum of ``heatmaps`` as a red/yellow overlay."""
    grey = np.clip(display, 0, 1).astype(np.float32)
    heat = np.zeros_like(grey)
    for cam in heatmaps:
        image = Image.fromarray(np.asarray(cam, dtype=np.float32), mode="F")
        heat = np.maximum(heat, np.asarray(image.resize(grey.shape[::-1], Image.Resampling.BILINEAR)))
    alpha = np.clip(heat, 0, 1)[..., None] * 0.5
    colour = np.stack([np.ones_like(heat), np.clip(heat * 2 - 1, 0, 1), np.zeros_like(heat)], axis=-1)
    rgb = grey[..., None] * (1 - alpha) + colour * alpha
    return np.asarray(np.clip(rgb, 0, 1) * 255 + 0.5, dtype=np.uint8)


def build_heatmap_sc(source: Dataset, display: npt.NDArray[np.floating],
                     heatmaps: Sequence[npt.NDArray[np.floating]], version: str) -> bytes:
    """A Secondary Capture of the image with the heatmaps blended in, in the image's study (Part 10)."""
    pixels = blend(display, heatmaps)
    source = _evidence(source)
    key = str(source.SOPInstanceUID)
    sc = hd.sc.SCImage.from_ref_dataset(
        ref_dataset=source, pixel_array=pixels, photometric_interpretation="RGB", bits_allocated=8,
        coordinate_system="PATIENT", patient_orientation=_orientation(source),
        series_instance_uid=_uid("cxr-sc-series", key), series_number=9102,
        sop_instance_uid=_uid("cxr-sc", key, version), instance_number=1, manufacturer=MANUFACTURER,
        transfer_syntax_uid=ExplicitVRLittleEndian, series_description="AI 热力图（初步）",
    )
    sc.BurnedInAnnotation = "NO"
    sc.Laterality = ""  # type 2C: dciodvfy asks for it on a CHEST body part; empty means unpaired
    sc.ImageComments = "AI preliminary heatmap (Grad-CAM); not a diagnosis"
    return _part10(sc)


def _orientation(source: Dataset) -> tuple[str, str]:
    """The source's PatientOrientation, else the usual frontal chest display ("L", "F")."""
    value = source.get("PatientOrientation")
    if value is not None and len(value) == 2 and all(str(v) for v in value):
        return str(value[0]), str(value[1])
    return "L", "F"


def _part10(ds: Dataset) -> bytes:
    ds.SpecificCharacterSet = "ISO_IR 192"  # UTF-8: the descriptions are Chinese
    ds.file_meta.TransferSyntaxUID = UID(ExplicitVRLittleEndian)
    out = io.BytesIO()
    ds.save_as(out, enforce_file_format=True)
    return out.getvalue()
