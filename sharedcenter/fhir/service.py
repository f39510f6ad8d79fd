"""``GET /fhir/DiagnosticReport``: signed report versions a reader may see, as a searchset Bundle.

Who sees what: staff users within their scope (a technician their site's reports, a specialist their
center's reports of the kind they read, QC and admin everything); a member hospital (institution
token) only the valid recognized reports of the patient it names, as the recognition registry offers
them.  Only current signed versions are listed (a version an amendment replaced is not).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

from fhir.resources.R4B.bundle import Bundle
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from sharedcenter.auth import Principal
from sharedcenter.db.models import Center, QcReview, RecognitionEntry, Report, Study, utcnow
from sharedcenter.enums import ReportStatus, Role
from sharedcenter.errors import InvalidInput, NotFound, PermissionDenied
from sharedcenter.fhir.resources import CATEGORIES, LOINC, V2_0074, diagnostic_report
from sharedcenter.services import Services

__all__ = ["FhirQuery", "Reader", "parse_category", "parse_dates", "search_diagnostic_reports"]

MAX_COUNT = 200


@dataclasses.dataclass(frozen=True, slots=True)
class Reader:
    """The caller: a staff user, or a member hospital by its institution code (exactly one)."""

    principal: Principal | None = None
    institution_code: str | None = None


@dataclasses.dataclass(frozen=True, slots=True)
class FhirQuery:
    """The supported search parameters, parsed."""

    patient: str | None = None
    date_ge: dt.datetime | None = None
    date_le: dt.datetime | None = None
    kind: str | None = None
    count: int = 50


def _day(text: str, end: bool) -> dt.datetime:
    try:
        value = dt.datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"date {text!r} must be an ISO date or dateTime, with an optional ge/le prefix") from None
    if len(text) <= 10 and end:
        value += dt.timedelta(days=1) - dt.timedelta(microseconds=1)
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def parse_dates(values: list[str]) -> tuple[dt.datetime | None, dt.datetime | None]:
    """``date`` parameters (``ge``, ``le``, ``gt``, ``lt`` or ``eq``/none prefixed) as an inclusive range."""
    low: dt.datetime | None = None
    high: dt.datetime | None = None
    for value in values:
        prefix, rest = (value[:2], value[2:]) if value[:2] in ("ge", "le", "gt", "lt", "eq") else ("eq", value)
        if prefix in ("ge", "gt", "eq"):
            start = _day(rest, end=prefix == "gt")
            low = start if low is None else max(low, start)
        if prefix in ("le", "lt", "eq"):
            stop = _day(rest, end=prefix != "lt")
            high = stop if high is None else min(high, stop)
    return low, high


def parse_category(value: str | None) -> str | None:
    """A category token (``RAD``/``EKG``, a LOINC part, optionally ``system|code``) as a study kind."""
    if not value:
        return None
    system, _, code = value.rpartition("|")
    for kind, ((v2, _), (loinc, _), _) in CATEGORIES.items():
        if (code == v2 and system in ("", V2_0074)) or (code == loinc and system in ("", LOINC)):
            return kind
    raise InvalidInput(f"category {value!r} must be RAD or EKG (HL7 v2-0074) or LP29684-5 / LP29708-2 (LOINC)")


def _scoped(query: Select[Report], reader: Reader, patient: str | None) -> Select[Report]:
    if reader.institution_code is not None:
        if not patient:
            raise InvalidInput("a member hospital must name the patient (patient=...)")
        recognized = select(RecognitionEntry.report_id).where(RecognitionEntry.active.is_(True),
                                                              RecognitionEntry.valid_until > utcnow())
        major = select(QcReview.report_id).where(QcReview.verdict == "major")
        return query.where(Report.id.in_(recognized), Report.id.not_in(major))
    principal = reader.principal
    assert principal is not None
    if principal.sees_everything:
        return query
    if principal.role is Role.TECHNICIAN:
        return query.where(Study.site_code == principal.site_code)
    if principal.reads_kind() is not None:
        return query.where(Study.center_code == principal.center_code, Study.kind == principal.reads_kind())
    raise PermissionDenied(f"{principal.username} ({principal.role}) may not search reports")


def _filtered(query: FhirQuery, reader: Reader) -> Select[Report]:
    stmt: Select[Report] = select(Report).join(Study, Report.study_id == Study.id).where(
        Report.status == ReportStatus.SIGNED.value)
    stmt = _scoped(stmt, reader, query.patient)
    if query.patient:
        stmt = stmt.where(Study.patient_id == query.patient)
    if query.kind:
        stmt = stmt.where(Study.kind == query.kind)
    if query.date_ge:
        stmt = stmt.where(Study.received_at >= query.date_ge)
    if query.date_le:
        stmt = stmt.where(Study.received_at <= query.date_le)
    return stmt


def _pdf(services: Services, report: Report) -> bytes | None:
    try:
        return services.object_store.get(report.pdf_key) if report.pdf_key else None
    except NotFound:
        return None


def search_diagnostic_reports(services: Services, session: Session, reader: Reader, query: FhirQuery,
                              self_url: str) -> dict[str, Any]:
    """The matching reports as an R4 searchset Bundle (JSON-ready dict), newest first.

    Raises
    ------
    InvalidInput
        ``_count`` outside 1-200, or a member hospital that names no patient.
    PermissionDenied
        A staff role without reports to search.
    """
    if not 1 <= query.count <= MAX_COUNT:
        raise InvalidInput(f"_count must be between 1 and {MAX_COUNT}")
    stmt = _filtered(query, reader)
    total = session.scalar(select(func.count()).select_from(stmt.subquery())) or 0
    rows = session.scalars(stmt.order_by(Report.signed_at.desc(), Report.id.desc()).limit(query.count)).all()
    base = services.settings.public_url.rstrip("/")
    entries = []
    for report in rows:
        center = session.get(Center, report.study.center_code)
        resource = diagnostic_report(report.study, report, center_name=center.name if center else "",
                                     pdf=_pdf(services, report), base_url=base)
        entries.append({"fullUrl": f"{base}/fhir/DiagnosticReport/{report.id}",
                        "resource": resource.model_dump(mode="json", exclude_none=True),
                        "search": {"mode": "match"}})
    bundle = Bundle.model_validate({"resourceType": "Bundle", "type": "searchset", "total": total,
                                    "link": [{"relation": "self", "url": self_url}], "entry": entries})
    out: dict[str, Any] = bundle.model_dump(mode="json", exclude_none=True)
    return out
