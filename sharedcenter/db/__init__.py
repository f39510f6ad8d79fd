"""Database records, sessions and migrations."""

from sharedcenter.db._engine import MIGRATIONS_DIR, Database, savepoint
from sharedcenter.db.models import (
    AIResult,
    ApiToken,
    AuditEvent,
    Base,
    Center,
    Consultation,
    Order,
    Report,
    Site,
    Study,
    SyncCursor,
    User,
    utcnow,
)

__all__ = [
    "savepoint",
    "MIGRATIONS_DIR",
    "AIResult",
    "ApiToken",
    "AuditEvent",
    "Base",
    "Center",
    "Consultation",
    "Database",
    "Order",
    "Report",
    "Site",
    "Study",
    "SyncCursor",
    "User",
    "utcnow",
]
