"""`EnvelopeCursorPagination`: lists whose objects sit under the resource's own name beside a `meta`
object that holds the cursors (GoCardless: `{"customers": [...], "meta": {"cursors": {"after": "CU1"}}}`).

A small class of its own rather than `NextTokenPagination` with a fixed `items_field`: nested lists
(`ctx.list_all("/refunds", ...)`) use the spec's pagination, and the list's key changes with the
resource, so the objects are read from the one list beside `meta` unless `items_field` names it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sourcesync.connectors.errors import ProviderResponseError
from sourcesync.connectors.kit.fields import dig
from sourcesync.connectors.kit.http import ParamValue
from sourcesync.connectors.kit.pagination import Headers, PageRequest, Pagination, RawPage, items_at


@dataclass(frozen=True)
class EnvelopeCursorPagination(Pagination):
    """`limit` + `after=<cursor>`; the next cursor is `meta.cursors.after` (None on the last page)."""

    token_param: str = "after"
    limit_param: str = "limit"
    items_field: str = ""  # "": the one list beside `meta_field`
    next_token_field: str = "meta.cursors.after"
    meta_field: str = "meta"

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        query = {**params, self.limit_param: page_size}
        if cursor is not None:
            query[self.token_param] = cursor
        return PageRequest(path, query)

    def _items_field(self, body: Any) -> str:
        if self.items_field:
            return self.items_field
        lists = [key for key, value in body.items() if key != self.meta_field and isinstance(value, list)]
        if len(lists) != 1:
            raise ProviderResponseError(f"a list answer with {len(lists)} lists beside {self.meta_field!r}")
        return str(lists[0])

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        if not isinstance(body, dict):
            raise ProviderResponseError("a list answer that is not an object")
        items = items_at(body, self._items_field(body))
        token = dig(body, self.next_token_field)
        next_cursor = str(token) if token not in (None, "") else None
        if next_cursor is not None and next_cursor == cursor:
            raise ProviderResponseError("the provider returned the same cursor again")
        if next_cursor is not None and not items:
            raise ProviderResponseError("a page with a next cursor and no objects")
        return RawPage(items, next_cursor)
