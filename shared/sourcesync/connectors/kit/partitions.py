"""How a source's lists split into partitions that workers fetch in parallel."""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise

from sourcesync.connectors.kit.streams import Partition, Stream
from sourcesync.records import RecordKind


class PartitionStrategy(ABC):
    """How a source's lists split into partitions that workers fetch in parallel."""

    @abstractmethod
    def plan(self, streams: Mapping[RecordKind, Stream], now: datetime) -> list[Partition]: ...


@dataclass(frozen=True)
class ByKind(PartitionStrategy):
    """One partition per kind: right for small sources and for APIs (or emulators) without filters."""

    def plan(self, streams: Mapping[RecordKind, Stream], now: datetime) -> list[Partition]:
        return [Partition(kind=kind, key=kind.value) for kind in streams]


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.year * 12 + (moment.month - 1) + months
    return moment.replace(year=index // 12, month=index % 12 + 1, day=1)


@dataclass(frozen=True)
class CreatedWindows(PartitionStrategy):
    """Creation-time windows for the streams that accept a `CreatedFilter`; other streams stay whole.

    Windows are calendar-aligned in UTC: `coarse_months` wide from `start` until `recent_years` before
    `now`'s year, then `months` wide (recent data is usually the bulk). The first window is open below
    and the last open above, so the windows cover every object, whenever created, exactly once.
    """

    start: datetime = datetime(2011, 1, 1, tzinfo=UTC)
    months: int = 3
    coarse_months: int = 12
    recent_years: int = 2

    def boundaries(self, now: datetime) -> list[datetime]:
        """The window edges from `start` up to `now` (the last window is open above)."""
        fine_from = datetime(max(now.year - self.recent_years, self.start.year), 1, 1, tzinfo=UTC)
        bounds = [self.start]
        while True:
            current = bounds[-1]
            following = _add_months(current, self.coarse_months if current < fine_from else self.months)
            if current < fine_from < following:
                following = fine_from
            if following > now:
                return bounds
            bounds.append(following)

    def plan(self, streams: Mapping[RecordKind, Stream], now: datetime) -> list[Partition]:
        partitions: list[Partition] = []
        bounds = self.boundaries(now)
        for kind, stream in streams.items():
            window = stream.created_filter
            if window is None:
                partitions.append(Partition(kind=kind, key=kind.value))
                continue
            edges: list[datetime | None] = [None, *bounds, None]
            for low, high in pairwise(edges):
                params: dict[str, str | int] = {}
                if low is not None:
                    params[window.gte_param] = int(low.timestamp())
                if high is not None:
                    params[window.lt_param] = int(high.timestamp())
                label = f"{low:%Y-%m-%d}" if low else ""
                label += ".." + (f"{high:%Y-%m-%d}" if high else "")
                partitions.append(Partition(kind=kind, key=f"{kind.value}:{label}", params=params))
        return partitions
