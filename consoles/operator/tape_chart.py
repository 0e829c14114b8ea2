"""The tape chart's read model: for one facility and a range of days, each room's bars
(stays by state, closings, imported events with their feed, direct stays) and the
nights in conflict, in a fixed number of queries."""

from __future__ import annotations
