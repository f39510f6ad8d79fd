"""Studies: ingest, the state machine, pre-read bookkeeping, the worklist, store catch-up."""

from sharedcenter.studies.ingest import (
    IngestOutcome,
    UploadedFile,
    ecg_record_key,
    ingest_dicom,
    ingest_ecg,
    ingest_upload,
    split_upload,
)
from sharedcenter.studies.preread import (
    PrereadJob,
    begin_preread,
    fail_preread,
    queue_stale_studies,
    record_preread,
)
from sharedcenter.studies.query import get_visible_study, list_site_studies, visible_to, worklist
from sharedcenter.studies.state import ALLOWED, OPEN_STATES, transition
from sharedcenter.studies.sync import (
    SyncReport,
    awaiting_counts,
    complete_counted_studies,
    complete_settled_studies,
    sync_dicom_store,
)

__all__ = [
    "ALLOWED",
    "OPEN_STATES",
    "IngestOutcome",
    "PrereadJob",
    "SyncReport",
    "UploadedFile",
    "awaiting_counts",
    "begin_preread",
    "complete_counted_studies",
    "complete_settled_studies",
    "ecg_record_key",
    "fail_preread",
    "get_visible_study",
    "ingest_dicom",
    "ingest_ecg",
    "ingest_upload",
    "list_site_studies",
    "queue_stale_studies",
    "record_preread",
    "split_upload",
    "sync_dicom_store",
    "transition",
    "visible_to",
    "worklist",
]
