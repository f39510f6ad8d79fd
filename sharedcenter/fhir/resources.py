"""DiagnosticReport (and contained ECG Observations) of one signed report version, as FHIR R4 JSON.

Built and validated with ``fhir.resources.R4B``: fhir.resources 8 models R5 at its top level and R4B
in the ``R4B`` subpackage.  R4B (4.3) kept DiagnosticReport, Observation, Attachment, Reference and
Bundle as R4 (4.0.1) defines them, and the resources built here use only elements that exist in both,
so the JSON is R4.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
from typing import Any

from fhir.resources.R4B.diagnosticreport import DiagnosticReport

from sharedcenter.db.models import Report, Study

__all__ = ["CATEGORIES", "ECG_OBSERVATIONS", "LOINC", "V2_0074", "diagnostic_report"]

V2_0074 = "http://terminology.hl7.org/CodeSystem/v2-0074"
LOINC = "http://loinc.org"
UCUM = "http://unitsofmeasure.org"
#: study kind -> (HL7 v2-0074 diagnostic service section, LOINC category part, report code)
CATEGORIES: dict[str, tuple[tuple[str, str], tuple[str, str], tuple[str, str]]] = {
    "dicom": (("RAD", "Radiology"), ("LP29684-5", "Radiology"), ("18748-4", "Diagnostic imaging study")),
    "ecg": (("EKG", "Electrocardiac (e.g., EKG, EEC, Holter)"), ("LP29708-2", "Cardiology"),
            ("11524-6", "EKG study")),
}
#: AI measurement key -> (LOINC code, display, UCUM unit, factor to that unit)
ECG_OBSERVATIONS: dict[str, tuple[str, str, str, float]] = {
    "heart_rate_bpm": ("8867-4", "Heart rate", "/min", 1.0),
    "qrs_duration_ms": ("8633-5", "QRS duration", "ms", 1.0),
    "pr_interval_ms": ("8625-6", "P-R Interval", "ms", 1.0),
    "qt_interval_ms": ("8634-3", "Q-T interval", "ms", 1.0),
    "qtc_interval_ms": ("8636-8", "Q-T interval corrected", "ms", 1.0),
    "rr_mean_s": ("8637-6", "R-R interval", "ms", 1000.0),
}


def _iso(value: dt.datetime) -> str:
    return (value if value.tzinfo else value.replace(tzinfo=dt.UTC)).isoformat()


def _category(kind: str) -> list[dict[str, Any]]:
    (v2, v2_display), (loinc, loinc_display), _ = CATEGORIES[kind]
    return [{"coding": [{"system": V2_0074, "code": v2, "display": v2_display},
                        {"system": LOINC, "code": loinc, "display": loinc_display}]}]


def _observations(study: Study) -> list[dict[str, Any]]:
    """The newest AI pre-read's ECG measurements, as preliminary Observations with LOINC codes."""
    if not study.ai_results:
        return []
    ai = study.ai_results[-1]
    out = []
    for key, (code, display, unit, factor) in ECG_OBSERVATIONS.items():
        value = ai.measurements.get(key)
        if not isinstance(value, int | float) or isinstance(value, bool):
            continue
        out.append({
            "resourceType": "Observation", "id": f"m-{code}", "status": "preliminary",
            "category": [{"coding": [{"system": "http://terminology.hl7.org/CodeSystem/observation-category",
                                      "code": "procedure"}]}],
            "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
            "valueQuantity": {"value": round(float(value) * factor, 3), "unit": unit, "system": UCUM,
                              "code": unit},
            "device": {"display": f"{ai.algorithm} {ai.algorithm_version} (AI, preliminary)"},
        })
    return out


def _presented_form(report: Report, pdf: bytes | None, base: str) -> list[dict[str, Any]]:
    form: dict[str, Any] = {"contentType": "application/pdf", "language": "zh-CN",
                            "url": f"{base}/api/reports/{report.id}/pdf", "title": f"诊断报告 v{report.version}"}
    if pdf is not None:  # FHIR's Attachment.hash is the base64 SHA-1 of the data
        form["hash"] = base64.b64encode(hashlib.sha1(pdf, usedforsecurity=False).digest()).decode()
        form["size"] = len(pdf)
    return [form]


def diagnostic_report(study: Study, report: Report, *, center_name: str, pdf: bytes | None,
                      base_url: str) -> DiagnosticReport:
    """The FHIR DiagnosticReport of one signed (current) report version.

    Parameters
    ----------
    center_name
        The issuing center's name (the organisation performer).
    pdf
        The stored signed PDF, whose SHA-1 becomes ``presentedForm.hash`` (None: no hash given).
    base_url
        The public base URL the PDF and verification links are made from.
    """
    base = base_url.rstrip("/")
    assert report.signed_at is not None
    _, _, (code, display) = CATEGORIES[study.kind]
    body: dict[str, Any] = {
        "resourceType": "DiagnosticReport", "id": str(report.id),
        "identifier": [{"system": f"{base}/verify", "value": str(report.verification_id)}],
        "status": "amended" if report.version > 1 else "final", "category": _category(study.kind),
        "code": {"coding": [{"system": LOINC, "code": code, "display": display}]},
        "subject": {"identifier": {"system": "urn:sharedcenter:patient-id", "value": study.patient_id}},
        "effectiveDateTime": _iso(study.received_at), "issued": _iso(report.signed_at),
        "performer": [{"display": report.signed_by.display_name if report.signed_by else ""},
                      {"display": center_name}],
        "resultsInterpreter": [{"display": report.signed_by.display_name if report.signed_by else ""}],
        "conclusion": report.impression, "presentedForm": _presented_form(report, pdf, base),
    }
    if study.kind == "ecg":
        contained = _observations(study)
        if contained:
            body["contained"] = contained
            body["result"] = [{"reference": f"#{o['id']}"} for o in contained]
    elif study.study_instance_uid:
        body["imagingStudy"] = [{"identifier": {"system": "urn:dicom:uid",
                                                "value": f"urn:oid:{study.study_instance_uid}"},
                                 "type": "ImagingStudy"}]
    return DiagnosticReport.model_validate(body)
