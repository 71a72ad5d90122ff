"""GraphQL lists: one POST of a query with variables per page, the cursor in `pageInfo`.

The query must take `$first: Int` and `$after: String` and select `pageInfo { hasNextPage endCursor }`
beside the nodes; a stream's params become further variables (a partition's time window, a customer).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from sourcesync.connectors.errors import ProviderResponseError
from sourcesync.connectors.kit.fields import dig, integer
from sourcesync.connectors.kit.http import ParamValue
from sourcesync.connectors.kit.pagination import Headers, PageRequest, Pagination, RawPage, items_at


@dataclass(frozen=True)
class GraphQLCursorPagination(Pagination):
    """`items_field` and `page_info_field` are dotted paths in the answer (`data.customers.nodes`,
    `data.customers.pageInfo`); the stream's path is the GraphQL endpoint (`/graphql`)."""

    query: str
    items_field: str
    page_info_field: str
    total_field: str | None = None

    def request(self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> PageRequest:
        variables: dict[str, Any] = {**params, "first": page_size, "after": cursor}
        return PageRequest(path, {}, method="POST", json_body={"query": self.query, "variables": variables})

    def parse(self, body: Any, page_size: int, cursor: str | None, headers: Headers) -> RawPage:
        errors = dig(body, "errors")
        if errors:
            first = errors[0] if isinstance(errors, list) and errors else {}
            message = first.get("message") if isinstance(first, dict) else None
            raise ProviderResponseError(f"the GraphQL answer has errors: {str(message)[:200]}")
        items = items_at(body, self.items_field)
        info = dig(body, self.page_info_field)
        if not isinstance(info, dict):
            raise ProviderResponseError(f"a GraphQL answer without {self.page_info_field!r}")
        following = info.get("endCursor") if info.get("hasNextPage") else None
        if following is not None and (not isinstance(following, str) or following == cursor):
            raise ProviderResponseError("the GraphQL answer did not move its cursor")
        total = integer(dig(body, self.total_field)) if self.total_field else None
        return RawPage(items, following, total)
