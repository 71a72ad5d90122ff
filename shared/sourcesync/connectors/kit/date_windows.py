"""Lists that can only be read a bounded time window at a time (PayPal's transaction search: at most 31
days per request, the last three years), each window paged by number.

`DateWindowPagination` walks every window from `history_days` ago up to now, oldest first, inside one
partition: the cursor is `"<window start, unix seconds>:<page>"`, so a worker resumes in the window and
page it stopped at. Windows are `window_days` wide; each request asks from the window's start to one
second before the next window's start (both ends inclusive, as PayPal reads them), the last one up to
the moment of the request.

With `since_path`, the walk starts at the oldest object of another list instead of `history_days` ago
(PayPal: no subscription payment is older than the oldest billing plan): the partition's first pages
read that list (`since_path`, paged by number, `since_params` sent, each object's `since_field` an ISO
time; cursor `"since:<page>:<oldest so far, unix seconds>"`, pages without objects), then the walk
starts at the oldest one's day, never earlier than `history_days` ago. An empty list: nothing to walk.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sourcesync.connectors.errors import ConnectorConfigError
from sourcesync.connectors.kit.fields import dig, integer, ts
from sourcesync.connectors.kit.http import ParamValue
from sourcesync.connectors.kit.pagination import Headers, PageRequest, Pagination, RawPage, items_at

DAY = 86_400


def iso(unix: float) -> str:
    return datetime.fromtimestamp(unix, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@dataclass(frozen=True)
class DateWindowPagination(Pagination):
    items_field: str
    start_param: str = "start_date"
    end_param: str = "end_date"
    page_param: str = "page"
    size_param: str = "page_size"
    total_pages_field: str = "total_pages"
    window_days: int = 31
    history_days: int = 3 * 365
    clock: Callable[[], float] = field(default=time.time, compare=False)
    since_path: str | None = None
    since_items_field: str = "items"
    since_field: str = "create_time"
    since_params: Mapping[str, ParamValue] = field(default_factory=dict)
    since_page_size: int = 20
    since_total_pages_field: str = "total_pages"

    def _earliest(self) -> int:
        return int(self.clock()) - self.history_days * DAY

    def _probe(self, cursor: str | None) -> tuple[int, int | None] | None:
        """(page, oldest so far) while the walk's start is still being read from `since_path`."""
        if self.since_path is None or not (cursor is None or cursor.startswith("since:")):
            return None
        if cursor is None:
            return 1, None
        try:
            _, page, oldest = cursor.split(":")
            return int(page), int(oldest) if oldest else None
        except ValueError as exc:
            raise ConnectorConfigError(f"not a date window cursor: {cursor[:80]!r}") from exc

    def _position(self, cursor: str | None) -> tuple[int, int]:
        if cursor is None:
            first = self._earliest()
            return first - first % DAY, 1  # whole days: the request and its answer agree on it
        try:
            start, page = cursor.split(":")
            return int(start), int(page)
        except ValueError as exc:
            raise ConnectorConfigError(f"not a date window cursor: {cursor[:80]!r}") from exc

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        probe = self._probe(cursor)
        if probe is not None:
            assert self.since_path is not None  # `_probe` checked it
            since_query = {**self.since_params, self.page_param: probe[0], self.size_param: self.since_page_size}
            return PageRequest(self.since_path, since_query)
        start, page = self._position(cursor)
        end = min(start + self.window_days * DAY - 1, int(self.clock()))
        query: dict[str, ParamValue] = {
            **params,
            self.start_param: iso(start),
            self.end_param: iso(end),
            self.page_param: page,
            self.size_param: page_size,
        }
        return PageRequest(path, query)

    def _probed(self, body: Any, page: int, oldest: int | None) -> RawPage:
        """A page of `since_path`: the cursor of its next page, or of the walk's first window."""
        for item in items_at(body, self.since_items_field):
            moment = ts(item.get(self.since_field))
            if moment is not None:
                oldest = min(oldest, int(moment.timestamp())) if oldest is not None else int(moment.timestamp())
        pages = integer(dig(body, self.since_total_pages_field))
        if pages is not None and page < pages:
            return RawPage([], f"since:{page + 1}:{'' if oldest is None else oldest}")
        if oldest is None:
            return RawPage([], None)  # nothing to walk
        start = max(oldest, self._earliest())
        return RawPage([], f"{start - start % DAY}:1")

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        probe = self._probe(cursor)
        if probe is not None:
            return self._probed(body, *probe)
        items = items_at(body, self.items_field)
        start, page = self._position(cursor)
        pages = integer(dig(body, self.total_pages_field))
        if items and pages is not None and page < pages:
            return RawPage(items, f"{start}:{page + 1}")
        following = start + self.window_days * DAY
        if following > self.clock():
            return RawPage(items, None)
        return RawPage(items, f"{following}:1")
