"""The reading station's core: worklist rows, report forms and the ECG viewer's waveform."""

from sharedcenter.station.ecgview import load_record, waveform_json
from sharedcenter.station.reportform import compose_findings, exam_of, load_phrases, load_templates, report_form
from sharedcenter.station.worklist import WorklistFilter, station_worklist, window_seconds, worklist_etag

__all__ = [
    "WorklistFilter",
    "compose_findings",
    "exam_of",
    "load_phrases",
    "load_record",
    "load_templates",
    "report_form",
    "station_worklist",
    "waveform_json",
    "window_seconds",
    "worklist_etag",
]
