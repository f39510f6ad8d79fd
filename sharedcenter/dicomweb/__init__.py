"""DICOMweb helpers: multipart/related bodies, the DICOM JSON model, and QIDO-RS study search.

The HTTP routes (STOW-RS, QIDO-RS, WADO-RS) live in ``sharedcenter.api.routes.dicomweb``; this
package knows nothing of HTTP frameworks.
"""

from sharedcenter.dicomweb.model import (
    DICOM_JSON,
    InstanceRef,
    instance_json,
    instance_ref,
    metadata_json,
    read_header,
    series_json,
    stow_response,
    study_json,
)
from sharedcenter.dicomweb.multipart import DICOM_MULTIPART, Part, build_multipart_related, parse_multipart_related
from sharedcenter.dicomweb.search import StudyQuery, find_visible_study, parse_date_range, search_studies

__all__ = [
    "DICOM_JSON",
    "DICOM_MULTIPART",
    "InstanceRef",
    "Part",
    "StudyQuery",
    "build_multipart_related",
    "find_visible_study",
    "instance_json",
    "instance_ref",
    "metadata_json",
    "parse_date_range",
    "parse_multipart_related",
    "read_header",
    "search_studies",
    "series_json",
    "stow_response",
    "study_json",
]
