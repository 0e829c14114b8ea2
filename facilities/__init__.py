"""Operator organisations' facilities and their bookable units."""
