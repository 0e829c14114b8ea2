"""The operator's stays: the list of a facility's bookings, one stay's page (guest,
company, contact, nights with prices, history, notes) and its actions: move (another
room, other dates; a confirm step shows what moves on the company's credit), shorten
or extend, cancel on the guest's behalf, check in, check out, no-show; direct stays
(walk-ins) recorded, shown and removed. Services: ``booking.front_desk``,
``booking.operator_moves``, ``availability.direct``."""

from __future__ import annotations

from consoles.operator.views import bp  # noqa: F401
