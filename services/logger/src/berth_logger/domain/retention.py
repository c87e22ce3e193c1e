"""Retention rules: how many lines an app keeps and for how long."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True)
class Retention:
    max_lines_per_app: int = 10_000
    max_age_hours: float = 168

    def __post_init__(self) -> None:
        if self.max_lines_per_app < 1:
            raise ValueError(f"max lines per app must be at least 1, got {self.max_lines_per_app}")
        if self.max_age_hours <= 0:
            raise ValueError(f"max age must be positive, got {self.max_age_hours} hours")

    def oldest_kept(self, now: datetime) -> datetime:
        """Lines older than this are expired."""
        return now - timedelta(hours=self.max_age_hours)

    def is_expired(self, line_time: datetime, now: datetime) -> bool:
        return line_time < self.oldest_kept(now)

    def excess(self, line_count: int) -> int:
        """How many of an app's oldest lines go when it holds `line_count`."""
        return max(0, line_count - self.max_lines_per_app)
