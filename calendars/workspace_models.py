"""Workspace units' calendars: external feeds whose timed events block slots, and each
unit's secret export address."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column, relationship

from core.db import UTCDateTime, utcnow
from core.extensions import db
from facilities.workspace import WorkspaceUnit


class WorkspaceFeed(db.Model):
    """An external calendar (a meeting room also booked in Google Calendar) imported into
    one workspace unit: its timed events become ``availability.workspace.WorkspaceBlock``
    rows. ``url`` often carries a secret token: shown masked, never logged."""

    __tablename__ = "workspace_feed"

    id: Mapped[int] = mapped_column(primary_key=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"), index=True)
    label: Mapped[str] = mapped_column(String(60))
    url: Mapped[str] = mapped_column(String(2000))
    active: Mapped[bool] = mapped_column(default=True)
    etag: Mapped[str | None] = mapped_column(String(300))
    last_modified: Mapped[str | None] = mapped_column(String(100))
    body_digest: Mapped[str | None] = mapped_column(String(64))
    last_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_success_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_error: Mapped[str | None] = mapped_column(String(300))
    last_error_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    failures: Mapped[int] = mapped_column(default=0)  # consecutive
    next_attempt_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    events_imported: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)

    unit: Mapped[WorkspaceUnit] = relationship()


class WorkspaceExport(db.Model):
    """The secret, rotatable address of a workspace unit's iCal feed (timed events, no
    names)."""

    __tablename__ = "workspace_export"

    id: Mapped[int] = mapped_column(primary_key=True)
    token: Mapped[str] = mapped_column(String(64), unique=True)
    unit_id: Mapped[int] = mapped_column(ForeignKey("workspace_unit.id"), unique=True)
    etag: Mapped[str | None] = mapped_column(String(64))
    last_modified: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    rotated_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    unit: Mapped[WorkspaceUnit] = relationship()

    @property
    def path(self) -> str:
        return f"/calendars/workspace/{self.token}.ics"
