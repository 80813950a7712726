"""ORM tables. Importing this package registers every table on `Base.metadata`."""

from app.models.access import RateLimitHit, SignInBackoff, SignInSession
from app.models.audit import AuditCheckpoint, AuditEntry, AuditHead
from app.models.base import Base
from app.models.grid import Cell
from app.models.hotspots import Hotspot, HotspotEvent
from app.models.notifications import Notification, NotificationDelivery
from app.models.people import Duty, Person, UserAccount
from app.models.reports import (
    CellOutline,
    CellRollup,
    CellRollupDirty,
    CellStatus,
    CellVisit,
    Patrol,
    Photo,
    Report,
    ReportKey,
)
from app.models.rules import RuleValues
from app.models.sources import Source

__all__ = [
    "AuditCheckpoint",
    "AuditEntry",
    "AuditHead",
    "Base",
    "Cell",
    "CellOutline",
    "CellRollup",
    "CellRollupDirty",
    "CellStatus",
    "CellVisit",
    "Duty",
    "Hotspot",
    "HotspotEvent",
    "Notification",
    "NotificationDelivery",
    "Patrol",
    "Person",
    "Photo",
    "RateLimitHit",
    "Report",
    "ReportKey",
    "RuleValues",
    "SignInBackoff",
    "SignInSession",
    "Source",
    "UserAccount",
]
