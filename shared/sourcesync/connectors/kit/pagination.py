"""Pagination strategies: how a provider pages its lists, one small class each.

The cursor is an opaque string the worker checkpoints between invocations. `items_field` is the record
path in the answer, dotted for nested answers (`"data.customers.nodes"`).

- `CursorPagination`: `limit` + `starting_after=<last id>` and `has_more` (Stripe).
- `NextTokenPagination`: a token from the answer sent back as a parameter (Chargebee `next_offset`).
- `NextLinkPagination`: the answer's body names the next page's URL (Recurly v3 `next`).
- `LinkHeaderPagination`: the `Link: <...>; rel="next"` header (RFC 8288).
- `PageNumberPagination`: `page=N`; `OffsetPagination`: `offset=N`.
- `GraphQLCursorPagination` (in `kit/graphql.py`): `first`/`after` variables and `pageInfo`.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import requests.utils

from sourcesync.connectors.errors import ConnectorConfigError, ProviderResponseError
from sourcesync.connectors.kit.fields import dig, integer
from sourcesync.connectors.kit.http import ParamValue

JsonObject = dict[str, Any]
Headers = Mapping[str, str]


@dataclass(frozen=True)
class PageRequest:
    """What to send for one page: GET with a query, or (GraphQL) POST with a JSON body."""

    path: str
    params: dict[str, ParamValue] = field(default_factory=dict)
    method: str = "GET"
    json_body: Any = None
    body: bytes | None = None  # a raw body (an XML search), sent as it is


@dataclass(frozen=True)
class RawPage:
    items: list[JsonObject]
    next_cursor: str | None
    total: int | None = None


def items_at(body: Any, items_field: str) -> list[JsonObject]:
    items = dig(body, items_field)
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProviderResponseError(f"a list answer without a {items_field!r} list of objects")
    return items


class Pagination(ABC):
    """How a provider pages its lists. The cursor is an opaque string the worker checkpoints."""

    @abstractmethod
    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        """The request of the page at `cursor` (None: the first page)."""

    @abstractmethod
    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        """The page's objects and the cursor of the next page (None: this was the last)."""


@dataclass(frozen=True)
class CursorPagination(Pagination):
    """`limit` + `starting_after=<id of the last object>` and a `has_more` flag (Stripe)."""

    cursor_param: str = "starting_after"
    limit_param: str = "limit"
    items_field: str = "data"
    has_more_field: str = "has_more"
    id_field: str = "id"
    total_field: str | None = "total_count"

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        query = {**params, self.limit_param: page_size}
        if cursor is not None:
            query[self.cursor_param] = cursor
        return PageRequest(path, query)

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        if cursor is not None and any(item.get(self.id_field) == cursor for item in items):
            # A provider (or emulator) that does not know the cursor may start again from the top.
            raise ProviderResponseError(f"the provider did not honour the cursor {cursor!r}")
        has_more = bool(dig(body, self.has_more_field))
        if has_more and not items:
            raise ProviderResponseError("a page with has_more and no objects")
        next_cursor = str(items[-1][self.id_field]) if has_more else None
        total = integer(dig(body, self.total_field)) if self.total_field else None
        return RawPage(items, next_cursor, total)


@dataclass(frozen=True)
class NextTokenPagination(Pagination):
    """An opaque token from the answer, sent back as a parameter (Chargebee `offset`/`next_offset`)."""

    token_param: str = "offset"
    limit_param: str = "limit"
    items_field: str = "list"
    next_token_field: str = "next_offset"
    total_field: str | None = None

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        query = {**params, self.limit_param: page_size}
        if cursor is not None:
            query[self.token_param] = cursor
        return PageRequest(path, query)

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        token = dig(body, self.next_token_field)
        next_cursor = str(token) if token not in (None, "") else None
        if next_cursor is not None and next_cursor == cursor:
            raise ProviderResponseError("the provider returned the same page token again")
        total = integer(dig(body, self.total_field)) if self.total_field else None
        return RawPage(items, next_cursor, total)


@dataclass(frozen=True)
class NextLinkPagination(Pagination):
    """The answer names the next page as a link (Recurly v3 `next` + `has_more`); the cursor is that
    link, which the HTTP client only follows on the provider's own origin."""

    items_field: str = "data"
    next_field: str = "next"
    has_more_field: str | None = "has_more"
    limit_param: str = "limit"

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        if cursor is not None:
            return PageRequest(cursor, {})  # the link already carries every parameter
        return PageRequest(path, {**params, self.limit_param: page_size})

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        more = True if self.has_more_field is None else bool(dig(body, self.has_more_field))
        link = dig(body, self.next_field)
        next_cursor = str(link) if more and link else None
        return RawPage(items, next_cursor)


@dataclass(frozen=True)
class PageNumberPagination(Pagination):
    """`page=N` (+ a page size); the last page is short or empty, or the answer gives the page count
    (Xero, Paddle classic). `size_param=None` for providers with a fixed page size."""

    page_param: str = "page"
    size_param: str | None = "per_page"
    items_field: str = "data"
    first_page: int = 1
    total_field: str | None = None
    total_pages_field: str | None = None

    def _page(self, cursor: str | None) -> int:
        if cursor is None:
            return self.first_page
        try:
            return int(cursor)
        except ValueError as exc:
            raise ConnectorConfigError(f"not a page number cursor: {cursor!r}") from exc

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        query: dict[str, ParamValue] = {**params, self.page_param: self._page(cursor)}
        if self.size_param is not None:
            query[self.size_param] = page_size
        return PageRequest(path, query)

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        page = self._page(cursor)
        last = len(items) < page_size
        if self.total_pages_field is not None:
            pages = integer(dig(body, self.total_pages_field))
            last = last or (pages is not None and page >= pages)
        total = integer(dig(body, self.total_field)) if self.total_field else None
        return RawPage(items, None if last else str(page + 1), total)


def _number(cursor: str | None, default: int) -> int:
    if cursor is None:
        return default
    try:
        return int(cursor)
    except ValueError as exc:
        raise ConnectorConfigError(f"not a number cursor: {cursor!r}") from exc


@dataclass(frozen=True)
class OffsetPagination(Pagination):
    """`offset=N&limit=M`; the last page is short, or the offset reaches the answer's total."""

    offset_param: str = "offset"
    limit_param: str = "limit"
    items_field: str = "data"
    total_field: str | None = None

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        return PageRequest(path, {**params, self.offset_param: _number(cursor, 0), self.limit_param: page_size})

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        following = _number(cursor, 0) + len(items)
        total = integer(dig(body, self.total_field)) if self.total_field else None
        last = len(items) < page_size or not items or (total is not None and following >= total)
        return RawPage(items, None if last else str(following), total)


def next_link(headers: Headers) -> str | None:
    """The `rel="next"` target of an RFC 8288 `Link` header, or None."""
    value = headers.get("Link") or headers.get("link")
    if not value:
        return None
    for link in requests.utils.parse_header_links(value):
        if "next" in link.get("rel", "").split() and link.get("url"):
            return link["url"]
    return None


@dataclass(frozen=True)
class LinkHeaderPagination(Pagination):
    """The next page is the `Link: <url>; rel="next"` header (GitHub style, Shopify, Recharge); the
    cursor is that URL, which the HTTP client only follows on the provider's own origin."""

    items_field: str = ""  # "": the answer is the list itself
    limit_param: str | None = "limit"

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        if cursor is not None:
            return PageRequest(cursor, {})
        query = dict(params)
        if self.limit_param is not None:
            query[self.limit_param] = page_size
        return PageRequest(path, query)

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        items = items_at(body, self.items_field)
        following = next_link(headers)
        if following is not None and following == cursor:
            raise ProviderResponseError("the provider linked to the same page again")
        return RawPage(items, following)
