"""The connector contract: a provider describes itself as data, one runtime fetches for all of them.

A provider is a `ConnectorSpec`: where its API lives, how credentials become headers (`Auth`), one
`Stream` per kind of record (path, extra parameters, page size, a `Pagination` strategy and a mapping
function from a provider object to records), how its lists split into partitions, how it signals
throttling and failure (`ErrorPolicy`), how to check credentials cheaply and how to list one customer's
objects. `Connector` runs any spec: the pipeline never knows which provider it talks to.

The pipeline's calls, in order::

    connector = Connector(spec, credentials, options, budget=shared_budget)
    connector.check_credentials()                    # once, when a source is created or edited
    partitions = connector.plan_partitions()         # JSON-serialisable, into the Step Functions input
    page = connector.fetch_page(partition, cursor)   # a worker loops until page.next_cursor is None
    records = connector.fetch_customer("cus_123")    # re-sync one customer
"""

from __future__ import annotations

import base64
import random as _random
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from itertools import pairwise
from typing import Any, Literal, Protocol
from urllib.parse import quote, urlsplit

import requests
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from sourcesync.connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderResponseError,
    RecordMappingError,
)
from sourcesync.connectors.http import (
    Clock,
    ErrorPolicy,
    HttpClient,
    InProcessTokenBucket,
    Params,
    ParamValue,
    Redactor,
    RequestBudget,
    RetryPolicy,
    Sleep,
)
from sourcesync.connectors.limits import RateLimit
from sourcesync.records import AnyRecord, RecordKind

JsonObject = dict[str, Any]

# --------------------------------------------------------------------------------------------------
# What travels between the planner and the workers
# --------------------------------------------------------------------------------------------------


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


# --------------------------------------------------------------------------------------------------
# Pagination strategies
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RawPage:
    items: list[JsonObject]
    next_cursor: str | None
    total: int | None = None


def _items(body: Any, items_field: str) -> list[JsonObject]:
    items = body.get(items_field) if isinstance(body, dict) else None
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise ProviderResponseError(f"a list answer without a {items_field!r} list of objects")
    return items


def _int_or_none(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class Pagination(ABC):
    """How a provider pages its lists. The cursor is an opaque string the worker checkpoints."""

    @abstractmethod
    def request(
        self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int
    ) -> tuple[str, dict[str, ParamValue]]:
        """The path and query of the page at `cursor` (None: the first page)."""

    @abstractmethod
    def parse(self, body: Any, page_size: int, cursor: str | None) -> RawPage:
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

    def request(
        self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int
    ) -> tuple[str, dict[str, ParamValue]]:
        query = {**params, self.limit_param: page_size}
        if cursor is not None:
            query[self.cursor_param] = cursor
        return path, query

    def parse(self, body: Any, page_size: int, cursor: str | None) -> RawPage:
        items = _items(body, self.items_field)
        if cursor is not None and any(item.get(self.id_field) == cursor for item in items):
            # A provider (or emulator) that does not know the cursor may start again from the top.
            raise ProviderResponseError(f"the provider did not honour the cursor {cursor!r}")
        has_more = bool(body.get(self.has_more_field))
        if has_more and not items:
            raise ProviderResponseError("a page with has_more and no objects")
        next_cursor = str(items[-1][self.id_field]) if has_more else None
        total = _int_or_none(body.get(self.total_field)) if self.total_field else None
        return RawPage(items, next_cursor, total)


@dataclass(frozen=True)
class NextTokenPagination(Pagination):
    """An opaque token from the answer, sent back as a parameter (Chargebee `offset`/`next_offset`)."""

    token_param: str = "offset"
    limit_param: str = "limit"
    items_field: str = "list"
    next_token_field: str = "next_offset"
    total_field: str | None = None

    def request(
        self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int
    ) -> tuple[str, dict[str, ParamValue]]:
        query = {**params, self.limit_param: page_size}
        if cursor is not None:
            query[self.token_param] = cursor
        return path, query

    def parse(self, body: Any, page_size: int, cursor: str | None) -> RawPage:
        items = _items(body, self.items_field)
        token = body.get(self.next_token_field)
        next_cursor = str(token) if token not in (None, "") else None
        if next_cursor is not None and next_cursor == cursor:
            raise ProviderResponseError("the provider returned the same page token again")
        total = _int_or_none(body.get(self.total_field)) if self.total_field else None
        return RawPage(items, next_cursor, total)


@dataclass(frozen=True)
class NextLinkPagination(Pagination):
    """The answer names the next page as a link (Recurly v3 `next` + `has_more`); the cursor is that
    link, which the HTTP client only follows on the provider's own origin."""

    items_field: str = "data"
    next_field: str = "next"
    has_more_field: str | None = "has_more"
    limit_param: str = "limit"

    def request(
        self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int
    ) -> tuple[str, dict[str, ParamValue]]:
        if cursor is not None:
            return cursor, {}  # the link already carries every parameter
        return path, {**params, self.limit_param: page_size}

    def parse(self, body: Any, page_size: int, cursor: str | None) -> RawPage:
        items = _items(body, self.items_field)
        more = True if self.has_more_field is None else bool(body.get(self.has_more_field))
        link = body.get(self.next_field)
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

    def request(
        self, path: str, params: Mapping[str, ParamValue], cursor: str | None, page_size: int
    ) -> tuple[str, dict[str, ParamValue]]:
        query: dict[str, ParamValue] = {**params, self.page_param: self._page(cursor)}
        if self.size_param is not None:
            query[self.size_param] = page_size
        return path, query

    def parse(self, body: Any, page_size: int, cursor: str | None) -> RawPage:
        items = _items(body, self.items_field)
        page = self._page(cursor)
        last = len(items) < page_size
        if self.total_pages_field is not None:
            pages = _int_or_none(body.get(self.total_pages_field))
            last = last or (pages is not None and page >= pages)
        total = _int_or_none(body.get(self.total_field)) if self.total_field else None
        return RawPage(items, None if last else str(page + 1), total)


# --------------------------------------------------------------------------------------------------
# Authentication
# --------------------------------------------------------------------------------------------------


def credential(credentials: Mapping[str, Any], name: str) -> str:
    """A required credential, or `CredentialsInvalidError` (without any call to the provider)."""
    value = credentials.get(name)
    if not isinstance(value, str) or not value.strip():
        raise CredentialsInvalidError(f"the credentials lack {name!r}")
    return value.strip()


class Auth(ABC):
    """How credentials become request headers."""

    @abstractmethod
    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]: ...

    @abstractmethod
    def secrets(self, credentials: Mapping[str, Any]) -> list[str]:
        """Every string that must never appear in a log line or an error message."""


@dataclass(frozen=True)
class BearerAuth(Auth):
    """`Authorization: Bearer <credentials[credential]>` (Stripe, Intercom, HubSpot private apps)."""

    credential: str = "api_key"
    scheme: str = "Bearer"

    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]:
        return {"Authorization": f"{self.scheme} {credential(credentials, self.credential)}"}

    def secrets(self, credentials: Mapping[str, Any]) -> list[str]:
        return [credential(credentials, self.credential)]


@dataclass(frozen=True)
class BasicAuth(Auth):
    """HTTP Basic with a key as user name and an empty password (Chargebee, Recurly), or a user name
    and a password credential."""

    username: str = "api_key"
    password: str | None = None

    def _pair(self, credentials: Mapping[str, Any]) -> tuple[str, str]:
        user = credential(credentials, self.username)
        password = credential(credentials, self.password) if self.password else ""
        return user, password

    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]:
        user, password = self._pair(credentials)
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return {"Authorization": f"Basic {token}"}

    def secrets(self, credentials: Mapping[str, Any]) -> list[str]:
        user, password = self._pair(credentials)
        token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
        return [s for s in (user, password, token) if s]


# --------------------------------------------------------------------------------------------------
# Streams and partitions
# --------------------------------------------------------------------------------------------------


class MappingContext(Protocol):
    """What a mapping function may ask for: the rest of a nested list (invoice lines, a charge's
    refunds) through the same client, budget and retries."""

    def get_json(self, path: str, params: Params | None = None) -> Any: ...

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
    `customer_param` is the list's filter by customer, used to re-sync one customer.
    """

    kind: RecordKind
    path: str
    mapper: Mapper
    params: Mapping[str, ParamValue] = field(default_factory=dict)
    pagination: Pagination | None = None
    page_size: int | None = None
    created_filter: CreatedFilter | None = None
    customer_param: str | None = None


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


# --------------------------------------------------------------------------------------------------
# The provider's description
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RequestSpec:
    path: str
    params: Mapping[str, ParamValue] = field(default_factory=dict)


@dataclass(frozen=True)
class ConnectorSpec:
    """Everything SourceSync knows about one provider, as data.

    `pagination` is the provider's list style, used by every stream that does not name its own and for
    nested lists; `page_size` is its largest page. `windows` says how lists split by creation time
    against the provider's real API (None: they never do). `customer_path` fetches one customer
    (`{id}` is replaced); with the streams' `customer_param`, it makes `fetch_customer` work.
    """

    system: str
    api_base: str
    auth: Auth
    streams: Mapping[RecordKind, Stream]
    check_credentials: RequestSpec
    rate_limit: RateLimit
    pagination: Pagination
    page_size: int = 100
    error_policy: ErrorPolicy = field(default_factory=ErrorPolicy)
    default_headers: Mapping[str, str] = field(default_factory=dict)
    customer_path: str | None = None
    windows: CreatedWindows | None = None

    def stream(self, kind: RecordKind) -> Stream:
        try:
            return self.streams[kind]
        except KeyError:
            raise ConnectorConfigError(f"{self.system} has no {kind.value} stream", system=self.system) from None


class ConnectorOptions(BaseModel):
    """A data source's connection options (SPEC 4, `options`) that concern the connector.

    `partitioning`: `auto` splits lists into creation-time windows only against the provider's own
    API (`api_base` unset or equal to the spec's), and by kind against anything else, such as a local
    emulator that rejects the time filters.
    """

    model_config = ConfigDict(extra="ignore", frozen=True)

    api_base: str | None = None
    requests_per_second: float | None = Field(default=None, gt=0, le=10_000)
    max_retry_seconds: float = Field(default=300, ge=0, le=86_400)
    partitioning: Literal["auto", "by_kind", "created_windows"] = "auto"
    page_size: int | None = Field(default=None, ge=1)
    window_months: int | None = Field(default=None, ge=1, le=120)

    @field_validator("api_base")
    @classmethod
    def _absolute_http_url(cls, value: str | None) -> str | None:
        if value is None:
            return None
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or parts.query or parts.fragment:
            raise ValueError("api_base must be an absolute http(s) URL without query")
        return value.rstrip("/")


# --------------------------------------------------------------------------------------------------
# The runtime
# --------------------------------------------------------------------------------------------------


def _mapping_problem(exc: Exception) -> str:
    if isinstance(exc, ValidationError):
        # Never the input values: they are customers' data.
        return "; ".join(
            f"{'.'.join(str(part) for part in error['loc'])}: {error['msg']}"
            for error in exc.errors(include_input=False, include_url=False)
        )
    if isinstance(exc, KeyError):
        return f"missing field {exc}"
    return f"{type(exc).__name__}: {exc}"


#: A credentials check (create or update of a source): connect within 2 s, an answer within 4 s, and
#: transient errors retried for at most 3 s, so the caller has its answer within seconds.
CHECK_RETRY = RetryPolicy(
    max_retry_seconds=3.0,
    backoff_base_seconds=0.25,
    backoff_cap_seconds=1.0,
    connect_timeout_seconds=2.0,
    read_timeout_seconds=4.0,
)


class Connector:
    """A `ConnectorSpec` bound to one source's credentials and options.

    Not thread-safe (one per worker); the `budget` is what the workers of a source share. Without a
    budget, an in-process token bucket at the provider's default rate is used.
    """

    def __init__(
        self,
        spec: ConnectorSpec,
        credentials: Mapping[str, Any],
        options: ConnectorOptions | Mapping[str, Any] | None = None,
        *,
        budget: RequestBudget | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.spec = spec
        self.options = (
            options if isinstance(options, ConnectorOptions) else ConnectorOptions.model_validate(options or {})
        )
        self.rate_limit = spec.rate_limit.with_rate(self.options.requests_per_second)
        self.budget = budget or InProcessTokenBucket(
            self.rate_limit.requests_per_second, self.rate_limit.burst, clock=clock
        )
        self._wall_clock = wall_clock
        self._redact = Redactor(spec.auth.secrets(credentials))
        self.http = HttpClient(
            self.api_base,
            headers={**spec.default_headers, **spec.auth.headers(credentials)},
            secrets=spec.auth.secrets(credentials),
            error_policy=spec.error_policy,
            retry=RetryPolicy(max_retry_seconds=self.options.max_retry_seconds),
            budget=self.budget,
            system=spec.system,
            session=session,
            clock=clock,
            wall_clock=wall_clock,
            sleep=sleep,
            random=random,
        )

    def __repr__(self) -> str:
        return f"Connector(system={self.spec.system!r}, api_base={self.api_base!r})"

    @property
    def api_base(self) -> str:
        return self.options.api_base or self.spec.api_base.rstrip("/")

    @property
    def uses_provider_api(self) -> bool:
        """True when talking to the provider's own API rather than an emulator or a proxy."""
        return self.api_base == self.spec.api_base.rstrip("/")

    @property
    def partitioning(self) -> Literal["by_kind", "created_windows"]:
        choice = self.options.partitioning
        if choice == "auto":
            return "created_windows" if self.spec.windows is not None and self.uses_provider_api else "by_kind"
        if choice == "created_windows" and self.spec.windows is None:
            raise ConnectorConfigError(
                f"{self.spec.system} lists cannot be split by creation time", system=self.spec.system
            )
        return choice

    def close(self) -> None:
        self.http.close()

    # -- the pipeline's calls ------------------------------------------------------------------------

    @contextmanager
    def _redacted_errors(self) -> Iterator[None]:
        """Connector errors leave redacted: their texts may quote what the provider sent (an object id,
        a message), and a provider may echo the credentials back."""
        try:
            yield
        except ConnectorError as exc:
            self._redact.error(exc)
            raise

    def check_credentials(self) -> None:
        """One cheap call; `CredentialsInvalidError` if the provider refuses the credentials.

        Someone waits for the answer (a create or an update of a source), so the check has short
        timeouts and retries transient errors only briefly (`CHECK_RETRY`): a provider that cannot be
        reached gives `ProviderUnavailableError` within seconds, not after a re-sync's patience."""
        check = self.spec.check_credentials
        patient, self.http.retry = self.http.retry, CHECK_RETRY
        try:
            with self._redacted_errors():
                self.http.get_json(check.path, check.params)
        finally:
            self.http.retry = patient

    def plan_partitions(self, now: datetime | None = None) -> list[Partition]:
        """The partitions of a full import, in a stable order."""
        moment = now or datetime.fromtimestamp(self._wall_clock(), UTC)
        strategy: PartitionStrategy = ByKind()
        if self.partitioning == "created_windows":
            assert self.spec.windows is not None  # checked by `partitioning`
            windows = self.spec.windows
            if self.options.window_months is not None:
                windows = replace(windows, months=self.options.window_months)
            strategy = windows
        return strategy.plan(self.spec.streams, moment)

    def fetch_page(self, partition: Partition, cursor: str | None = None) -> Page:
        """The page of `partition` at `cursor` (None: its first page)."""
        stream = self.spec.stream(partition.kind)
        allowed = {stream.created_filter.gte_param, stream.created_filter.lt_param} if stream.created_filter else set()
        unexpected = set(partition.params) - allowed
        if unexpected:
            raise ConnectorConfigError(
                f"partition {partition.key!r} has parameters the {partition.kind.value} stream does not take: "
                f"{sorted(unexpected)}",
                system=self.spec.system,
            )
        with self._redacted_errors():
            return self._fetch(stream, {**stream.params, **partition.params}, cursor, self._page_size(stream))

    def iter_pages(self, partition: Partition, cursor: str | None = None) -> Iterator[Page]:
        """Every page of `partition` from `cursor` on (a convenience for tests and small sources)."""
        while True:
            page = self.fetch_page(partition, cursor)
            yield page
            if page.next_cursor is None:
                return
            cursor = page.next_cursor

    def fetch_customer(self, external_id: str) -> list[AnyRecord]:
        """One customer's up-to-date records: the customer, then every customer-scoped stream's records.

        An empty list means the customer no longer exists at the provider (404 or deleted).
        """
        with self._redacted_errors():
            return self._fetch_customer(external_id)

    def _fetch_customer(self, external_id: str) -> list[AnyRecord]:
        if self.spec.customer_path is None:
            raise ConnectorConfigError(f"{self.spec.system} cannot fetch one customer", system=self.spec.system)
        if not external_id:
            raise ConnectorConfigError("a customer's external id is required", system=self.spec.system)
        try:
            obj = self.http.get_json(self.spec.customer_path.format(id=quote(external_id, safe="")))
        except ProviderNotFoundError:
            return []
        if not isinstance(obj, dict):
            raise ProviderResponseError("a customer answer that is not an object", system=self.spec.system)
        records, _ = self._map(self.spec.stream(RecordKind.CUSTOMERS), [obj])
        if not records:
            return []
        for stream in self.spec.streams.values():
            if stream.customer_param is None:
                continue
            params = {**stream.params, stream.customer_param: external_id}
            cursor: str | None = None
            while True:
                page = self._fetch(stream, params, cursor, self._max_page_size(stream))
                records.extend(page.records)
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
        return records

    # -- MappingContext ------------------------------------------------------------------------------

    def get_json(self, path: str, params: Params | None = None) -> Any:
        return self.http.get_json(path, params)

    def list_all(
        self, path: str, params: Params | None = None, *, start_cursor: str | None = None
    ) -> Iterator[JsonObject]:
        """Every object of a nested list, from `start_cursor` on, in the provider's list style."""
        pagination = self.spec.pagination
        cursor = start_cursor
        while True:
            request_path, query = pagination.request(path, dict(params or {}), cursor, self.spec.page_size)
            raw = pagination.parse(self.http.get_json(request_path, query), self.spec.page_size, cursor)
            yield from raw.items
            if raw.next_cursor is None:
                return
            cursor = raw.next_cursor

    # -- internals -----------------------------------------------------------------------------------

    def _max_page_size(self, stream: Stream) -> int:
        return min(stream.page_size or self.spec.page_size, self.spec.page_size)

    def _page_size(self, stream: Stream) -> int:
        cap = self._max_page_size(stream)
        return min(self.options.page_size or cap, cap)

    def _fetch(self, stream: Stream, params: Mapping[str, ParamValue], cursor: str | None, page_size: int) -> Page:
        pagination = stream.pagination or self.spec.pagination
        path, query = pagination.request(stream.path, params, cursor, page_size)
        try:
            raw = pagination.parse(self.http.get_json(path, query), page_size, cursor)
        except ProviderResponseError as exc:
            exc.system = exc.system or self.spec.system
            raise
        records, skipped = self._map(stream, raw.items)
        return Page(records, raw.next_cursor, raw.total, fetched=len(raw.items), skipped=skipped)

    def _map(self, stream: Stream, items: Iterable[JsonObject]) -> tuple[list[AnyRecord], int]:
        records: list[AnyRecord] = []
        skipped = 0
        for obj in items:
            try:
                produced = list(stream.mapper(obj, self))
            except ConnectorError:
                raise
            except (ValidationError, KeyError, TypeError, ValueError, AttributeError) as exc:
                raise RecordMappingError(
                    f"cannot map {stream.kind.value} object {obj.get('id')!r}: {_mapping_problem(exc)}",
                    system=self.spec.system,
                ) from exc
            if not produced:
                skipped += 1
            records.extend(produced)
        return records, skipped
