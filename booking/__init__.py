"""Search, availability, bookings and their lifecycle, employee pages, JSON API."""
