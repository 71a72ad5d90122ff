"""Lists that can only be read a bounded time window at a time (PayPal's transaction search: at most 31
days per request, the last three years), each window paged by number.

`DateWindowPagination` walks every window from `history_days` ago up to now, oldest first, inside one
partition: the cursor is `"<window start, unix seconds>:<page>"`, so a worker resumes in the window and
page it stopped at. Windows are `window_days` wide; each request asks from the window's start to one
second before the next window's start (both ends inclusive, as PayPal reads them), the last one up to
the moment of the request.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sourcesync.connectors.errors import ConnectorConfigError
from sourcesync.connectors.kit.fields import dig, integer
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

    def _position(self, cursor: str | None) -> tuple[int, int]:
        if cursor is None:
            first = int(self.clock()) - self.history_days * DAY
            return first - first % DAY, 1  # whole days: the request and its answer agree on it
        try:
            start, page = cursor.split(":")
            return int(start), int(page)
        except ValueError as exc:
            raise ConnectorConfigError(f"not a date window cursor: {cursor[:80]!r}") from exc

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
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

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        start, page = self._position(cursor)
        pages = integer(dig(body, self.total_pages_field))
        if items and pages is not None and page < pages:
            return RawPage(items, f"{start}:{page + 1}")
        following = start + self.window_days * DAY
        if following > self.clock():
            return RawPage(items, None)
        return RawPage(items, f"{following}:1")
