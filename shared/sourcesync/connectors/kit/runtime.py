"""The runtime: `Connector` runs any `ConnectorSpec`, so the pipeline never knows which provider it
talks to.

The pipeline's calls, in order::

    connector = Connector(spec, credentials, options, budget=shared_budget, token_store=tokens)
    connector.check_credentials()                    # once, when a source is created or edited
    partitions = connector.plan_partitions()         # JSON-serialisable, into the Step Functions input
    page = connector.fetch_page(partition, cursor)   # a worker loops until page.next_cursor is None
    records = connector.fetch_customer("cus_123")    # re-sync one customer
"""

from __future__ import annotations

import random as _random
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any, Literal, TypeVar
from urllib.parse import quote

import requests
from pydantic import ValidationError

from sourcesync.connectors.errors import (
    ConnectorConfigError,
    ConnectorError,
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderResponseError,
    RecordMappingError,
)
from sourcesync.connectors.kit.auth import OAuth2Auth, TokenStore
from sourcesync.connectors.kit.budget import Clock, InProcessTokenBucket, RequestBudget, Sleep
from sourcesync.connectors.kit.http import HttpClient, Params, ParamValue, Redactor, RetryPolicy
from sourcesync.connectors.kit.oauth2 import request_token
from sourcesync.connectors.kit.options import ConnectorOptions
from sourcesync.connectors.kit.pagination import JsonObject
from sourcesync.connectors.kit.partitions import ByKind, PartitionStrategy
from sourcesync.connectors.kit.spec import ConnectorSpec
from sourcesync.connectors.kit.streams import Page, Partition, Stream
from sourcesync.records import AnyRecord, RecordKind

T = TypeVar("T")


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


def _object_id(obj: JsonObject) -> Any:
    """The object's id, or that of the object a list entry wraps (Chargebee: `{"invoice": {"id": ...}}`)."""
    if "id" in obj:
        return obj["id"]
    wrapped = [value["id"] for value in obj.values() if isinstance(value, dict) and "id" in value]
    return wrapped[0] if wrapped else None


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
    budget, an in-process token bucket at the provider's default rate is used. `token_store` receives
    the credentials whenever an OAuth2 token is obtained or refreshed (the pipeline passes one over
    Secrets Manager; without it a new token lives as long as the connector).
    """

    def __init__(
        self,
        spec: ConnectorSpec,
        credentials: Mapping[str, Any],
        options: ConnectorOptions | Mapping[str, Any] | None = None,
        *,
        budget: RequestBudget | None = None,
        token_store: TokenStore | None = None,
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
        self._credentials = dict(credentials)
        self._token_store = token_store
        self._provider_base = spec.base_url(credentials)
        self._streams: dict[RecordKind, Stream] = {}  # the streams chosen (`Stream.chooser`)
        self._redact = Redactor(spec.auth.secrets(credentials))
        self.http = HttpClient(
            self.api_base,
            headers={**spec.headers(credentials), **spec.auth.headers(credentials)},
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
        """The provider's host for this account, or the whole base `options.api_base` puts instead."""
        return self.options.api_base or self._provider_base

    @property
    def uses_provider_api(self) -> bool:
        """True when talking to the provider's own API rather than an emulator or a proxy."""
        return self.api_base == self._provider_base

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

    def _authorized(self, call: Callable[[], T]) -> T:
        """`call` with a current OAuth2 token: obtained first when missing or expiring, and renewed
        once when the provider answers 401/403 to a token that looked current."""
        grant = self.spec.auth.oauth2()
        if grant is None:
            return call()
        if grant.needs_token(self._credentials, self._wall_clock()):
            self._renew_token(grant)
            return call()
        try:
            return call()
        except CredentialsInvalidError:
            self._renew_token(grant)
            return call()

    def _renew_token(self, grant: OAuth2Auth) -> None:
        renewed = request_token(grant, self._credentials, self.http, self._wall_clock(), self.spec.system)
        self._credentials = renewed
        for secret in grant.secrets(renewed):
            self._redact.add(secret)
        self.http.set_header("Authorization", f"Bearer {renewed['access_token']}", secret=True)
        if self._token_store is not None:
            self._token_store.save(renewed)

    def check_credentials(self) -> None:
        """One cheap call; `CredentialsInvalidError` if the provider refuses the credentials.

        Someone waits for the answer (a create or an update of a source), so the check has short
        timeouts and retries transient errors only briefly (`CHECK_RETRY`): a provider that cannot be
        reached gives `ProviderUnavailableError` within seconds, not after a re-sync's patience."""
        check = self.spec.check_credentials
        patient, self.http.retry = self.http.retry, CHECK_RETRY
        try:
            with self._redacted_errors():
                self._authorized(lambda: self.http.request(check.path, check.params, decode=self.spec.decoder))
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

    def stream(self, kind: RecordKind) -> Stream:
        """The stream this connector reads `kind` from: the spec's, or, against a stand-in for the provider,
        the one its `chooser` names (asked once per connector)."""
        stream = self.spec.stream(kind)
        chooser = stream.chooser
        if chooser is None or self.uses_provider_api:
            return stream
        if kind not in self._streams:
            with self._redacted_errors():
                self._streams[kind] = self._authorized(lambda: chooser(self)) or stream
        return self._streams[kind]

    def fetch_page(self, partition: Partition, cursor: str | None = None) -> Page:
        """The page of `partition` at `cursor` (None: its first page)."""
        stream = self.stream(partition.kind)
        allowed = {stream.created_filter.gte_param, stream.created_filter.lt_param} if stream.created_filter else set()
        unexpected = set(partition.params) - allowed
        if unexpected:
            raise ConnectorConfigError(
                f"partition {partition.key!r} has parameters the {partition.kind.value} stream does not take: "
                f"{sorted(unexpected)}",
                system=self.spec.system,
            )
        params = {**stream.params, **partition.params}
        with self._redacted_errors():
            return self._authorized(lambda: self._fetch(stream, params, cursor, self._page_size(stream)))

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
            return self._authorized(lambda: self._fetch_customer(external_id))

    def _fetch_customer(self, external_id: str) -> list[AnyRecord]:
        if not external_id:
            raise ConnectorConfigError("a customer's external id is required", system=self.spec.system)
        if self.spec.customer_fetcher is not None:  # a provider without a customer endpoint (PayPal)
            return list(self.spec.customer_fetcher(self, external_id))
        if self.spec.customer_path is None:
            raise ConnectorConfigError(f"{self.spec.system} cannot fetch one customer", system=self.spec.system)
        try:
            obj = self.http.request(
                self.spec.customer_path.format(id=quote(external_id, safe="")), decode=self.spec.decoder
            ).body
        except ProviderNotFoundError:
            return []
        if not isinstance(obj, dict):
            raise ProviderResponseError("a customer answer that is not an object", system=self.spec.system)
        records, _ = self._map(self.spec.stream(RecordKind.CUSTOMERS), [obj])
        if not records:
            return []
        quoted = quote(external_id, safe="")
        for stream in (self.stream(kind) for kind in self.spec.streams):
            if stream.customer_path is not None:  # a list under the customer (`/accounts/{id}/invoices`)
                stream, params = replace(stream, path=stream.customer_path.format(id=quoted)), dict(stream.params)
            elif stream.customer_param is not None:  # the stream's list filtered by customer
                params = {**stream.params, stream.customer_param: external_id}
            else:
                continue
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

    def post_json(self, path: str, body: Any) -> Any:
        return self.http.request(path, method="POST", json_body=body).body

    def list_all(
        self, path: str, params: Params | None = None, *, start_cursor: str | None = None
    ) -> Iterator[JsonObject]:
        """Every object of a nested list, from `start_cursor` on, in the provider's list style."""
        pagination = self.spec.pagination
        cursor = start_cursor
        while True:
            ask = pagination.request(path, dict(params or {}), cursor, self.spec.page_size)
            reply = self.http.request(ask.path, ask.params, method=ask.method, json_body=ask.json_body, form=ask.body)
            raw = pagination.parse(reply.body, self.spec.page_size, cursor, reply.headers)
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
        if stream.records_path is not None:
            pagination = replace(pagination, items_field=stream.records_path)  # type: ignore[type-var]
        ask = pagination.request(stream.path, params, cursor, page_size)
        reply = self.http.request(
            ask.path,
            ask.params,
            method=ask.method,
            json_body=ask.json_body,
            form=ask.body,
            decode=stream.decoder or self.spec.decoder,
        )
        try:
            raw = pagination.parse(reply.body, page_size, cursor, reply.headers)
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
                    f"cannot map {stream.kind.value} object {_object_id(obj)!r}: {_mapping_problem(exc)}",
                    system=self.spec.system,
                ) from exc
            if not produced:
                skipped += 1
            records.extend(produced)
        return records, skipped
