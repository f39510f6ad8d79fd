"""FHIR R4 views of signed reports: DiagnosticReport search as a searchset Bundle."""

from sharedcenter.fhir.resources import diagnostic_report
from sharedcenter.fhir.service import FhirQuery, Reader, search_diagnostic_reports

__all__ = ["FhirQuery", "Reader", "diagnostic_report", "search_diagnostic_reports"]
