"""What one event's messages say (``notifications.mail_context`` loads it): the values
the mail templates show, the params a notice keeps, the page each audience opens."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from notifications.catalog import EMPLOYEE

Page = tuple[str, dict[str, Any]]


@dataclass
class Facts:
    values: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    pages: dict[str, Page] = field(default_factory=dict)
    # Nothing to say to anyone by mail or notice (the webhooks still go): the news is told
    # by another message (a desk booked with a stay: the stay's confirmation lists it) or
    # by the first event of the same action (the bookings of one series, the desks ended
    # with one stay: ``notifications.workspace_context``).
    quiet: bool = False
    # Params only the employee's own notice keeps (the company's money of a workspace
    # change); the notices of anyone else leave them out.
    private: tuple[str, ...] = ()

    def page(self, audience: str) -> Page:
        return self.pages[audience]

    def params_for(self, audience: str) -> dict[str, Any]:
        """The params a notice for ``audience`` keeps."""
        if audience == EMPLOYEE or not self.private:
            return self.params
        return {key: value for key, value in self.params.items() if key not in self.private}
