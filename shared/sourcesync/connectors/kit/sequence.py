"""Several provider lists read one after the other as one stream.

Some providers keep one kind of record in two lists (Chargebee's product catalog 1.0 has plans and addons,
both subscribed to on a subscription, both `PlanRecord`s). `ListSequence` pages through each list in
turn with the provider's own pagination; the cursor names the list and the inner cursor (`"1"`: the
first page of the second list, `"1:<token>"`: the second list at `<token>`), so a worker can checkpoint
and resume anywhere. The stream's own `path` is not used (give it the first list's, for readers).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sourcesync.connectors.errors import ConnectorConfigError
from sourcesync.connectors.kit.http import ParamValue
from sourcesync.connectors.kit.pagination import Headers, PageRequest, Pagination, RawPage


@dataclass(frozen=True)
class ListSequence(Pagination):
    """`paths` read one after the other, each with `inner` (the provider's pagination)."""

    paths: tuple[str, ...]
    inner: Pagination

    def __post_init__(self) -> None:
        if not self.paths:
            raise ConnectorConfigError("a ListSequence needs at least one path")

    def _split(self, cursor: str | None) -> tuple[int, str | None]:
        if cursor is None:
            return 0, None
        index, _, inner = cursor.partition(":")
        if not index.isdigit() or int(index) >= len(self.paths):
            raise ConnectorConfigError(f"not a list sequence cursor: {cursor!r}")
        return int(index), (inner or None)

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        index, inner = self._split(cursor)
        return self.inner.request(self.paths[index], params, inner, page_size)

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        index, inner = self._split(cursor)
        raw = self.inner.parse(body, page_size, inner, headers)
        if raw.next_cursor is not None:
            following: str | None = f"{index}:{raw.next_cursor}"
        elif index + 1 < len(self.paths):
            following = str(index + 1)
        else:
            following = None
        return RawPage(raw.items, following)
