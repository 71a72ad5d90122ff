"""The connector contract in one import: everything a connector module declares itself with.

A provider is a `ConnectorSpec` (`kit/spec.py`): where its API lives (a host template filled from the
account's connection settings), how credentials become headers (`kit/auth.py`), one `Stream` per kind
of record (`kit/streams.py`: path, parameters, record path, decoder, pagination from
`kit/pagination.py` or `kit/graphql.py`, a mapping function built from `kit/fields.py`), how lists
split into partitions (`kit/partitions.py`), its rate limit (`limits.py`) and error policy
(`http.ErrorPolicy`). `Connector` (`kit/runtime.py`) runs any spec. docs/connectors.md walks through
adding one.
"""

from __future__ import annotations

from sourcesync.connectors.kit.auth import (
    Auth,
    BasicAuth,
    BearerAuth,
    HeaderAuth,
    OAuth2Auth,
    TokenStore,
    credential,
)
from sourcesync.connectors.kit.budget import InProcessTokenBucket, RequestBudget
from sourcesync.connectors.kit.decoders import xml_decoder
from sourcesync.connectors.kit.graphql import GraphQLCursorPagination
from sourcesync.connectors.kit.http import ErrorPolicy, Params, ParamValue, RetryPolicy
from sourcesync.connectors.kit.options import ConnectorOptions
from sourcesync.connectors.kit.pagination import (
    CursorPagination,
    JsonObject,
    LinkHeaderPagination,
    NextLinkPagination,
    NextTokenPagination,
    OffsetPagination,
    PageNumberPagination,
    PageRequest,
    Pagination,
    RawPage,
)
from sourcesync.connectors.kit.partitions import ByKind, CreatedWindows, PartitionStrategy
from sourcesync.connectors.kit.runtime import CHECK_RETRY, Connector
from sourcesync.connectors.kit.spec import ConnectionSetting, ConnectorSpec
from sourcesync.connectors.kit.streams import (
    CreatedFilter,
    Mapper,
    MappingContext,
    Page,
    Partition,
    RequestSpec,
    Stream,
)
from sourcesync.connectors.limits import RateLimit

__all__ = [
    "CHECK_RETRY",
    "Auth",
    "BasicAuth",
    "BearerAuth",
    "ByKind",
    "ConnectionSetting",
    "Connector",
    "ConnectorOptions",
    "ConnectorSpec",
    "CreatedFilter",
    "CreatedWindows",
    "CursorPagination",
    "ErrorPolicy",
    "GraphQLCursorPagination",
    "HeaderAuth",
    "InProcessTokenBucket",
    "JsonObject",
    "LinkHeaderPagination",
    "Mapper",
    "MappingContext",
    "NextLinkPagination",
    "NextTokenPagination",
    "OAuth2Auth",
    "OffsetPagination",
    "Page",
    "PageNumberPagination",
    "PageRequest",
    "Pagination",
    "ParamValue",
    "Params",
    "Partition",
    "PartitionStrategy",
    "RateLimit",
    "RawPage",
    "RequestBudget",
    "RequestSpec",
    "RetryPolicy",
    "Stream",
    "TokenStore",
    "credential",
    "xml_decoder",
]
