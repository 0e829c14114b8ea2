"""One page of a longer list."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Page:
    """One page of a longer list (search results, an operator's price history)."""

    items: list
    total: int
    page: int
    per_page: int

    @staticmethod
    def number(page: int, total: int, per_page: int) -> int:
        """``page`` brought within 1 … the last page."""
        return max(1, min(page, max(1, -(-total // per_page))))

    @property
    def pages(self) -> int:
        return max(1, -(-self.total // self.per_page))

    @property
    def has_next(self) -> bool:
        return self.page < self.pages

    @property
    def has_prev(self) -> bool:
        return self.page > 1
