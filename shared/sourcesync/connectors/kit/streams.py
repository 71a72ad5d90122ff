"""What a connector declares per kind of record (`Stream`), and what travels between the planner and
the workers (`Partition`, `Page`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from pydantic import BaseModel, ConfigDict, Field

from sourcesync.connectors.kit.http import Decoder, Params, ParamValue
from sourcesync.connectors.kit.pagination import JsonObject, Pagination
from sourcesync.records import AnyRecord, RecordKind


class Partition(BaseModel):
    """One independently fetchable slice of a provider's list: small, JSON-serialisable, and stable
    (the same source planned twice at the same instant gives the same partitions)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kind: RecordKind
    key: str = Field(min_length=1, max_length=200, description='e.g. "customers:2024-01-01..2024-04-01"')
    params: dict[str, str | int] = Field(default_factory=dict)


@dataclass(frozen=True)
class Page:
    """One page of a partition, mapped. `next_cursor` is None on the last page.

    `fetched` counts the provider objects read, `skipped` those that gave no record on purpose (a draft
    invoice, a charge without invoice...). `total` is the partition's size when the provider tells.
    """

    records: list[AnyRecord]
    next_cursor: str | None
    total: int | None = None
    fetched: int = 0
    skipped: int = 0


class MappingContext(Protocol):
    """What a mapping function may ask for: the rest of a nested list (invoice lines, a charge's
    refunds) through the same client, budget and retries."""

    def get_json(self, path: str, params: Params | None = None) -> Any: ...

    def post_json(self, path: str, body: Any) -> Any: ...

    def list_all(
        self, path: str, params: Params | None = None, *, start_cursor: str | None = None
    ) -> Iterator[JsonObject]: ...


Mapper = Callable[[JsonObject, MappingContext], Iterable[AnyRecord]]


@dataclass(frozen=True)
class CreatedFilter:
    """The list accepts a creation-time range: `gte_param <= created < lt_param`, in unix seconds."""

    gte_param: str = "created[gte]"
    lt_param: str = "created[lt]"


@dataclass(frozen=True)
class Stream:
    """One kind of record: a provider list and how its objects map into records.

    `mapper` may yield several records for one object (a subscription with two items gives two
    `SubscriptionRecord`s, a charge gives a payment and its refunds) or none (a draft invoice).
    `customer_param` is the list's filter by customer, used to re-sync one customer; `customer_path`
    instead, for a provider whose lists of one customer live under it (`/accounts/{id}/invoices`,
    `{id}` is replaced); a stream with neither is not fetched for a customer. Without
    `created_filter` the stream is one partition (a list the provider cannot filter by creation
    time). `records_path` is where the objects are in
    the answer (dotted; default: the pagination's); `decoder` reads the answer (default JSON;
    `kit.decoders.xml_decoder` for XML).
    """

    kind: RecordKind
    path: str
    mapper: Mapper
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    pagination: Pagination | None = None
    page_size: int | None = None
    created_filter: CreatedFilter | None = None
    customer_param: str | None = None
    customer_path: str | None = None
    records_path: str | None = None
    decoder: Decoder | None = None
    #: For a kind whose best list depends on what a stand-in for the provider serves (an emulator, a proxy):
    #: asked once per connector whose `api_base` is not the provider's own API (through the same client
    #: and budget) before the kind's first page, it names the stream to read instead, or None for this one.
    #: Against the provider's own API this stream is read, unasked. The other stream must take the same
    #: created filter and customer parameter.
    chooser: Callable[[MappingContext], Stream | None] | None = None


@dataclass(frozen=True)
class RequestSpec:
    path: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)
