"""The connector kit's parts, each through a real `Connector` against a small local HTTP server (the
standard library's): pagination strategies, the XML and GraphQL decoders, host templates from
connection settings, OAuth2 grants with a token store, and the field helpers."""

from __future__ import annotations

import base64
import json
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from sourcesync.connectors import CredentialsInvalidError, ProviderResponseError
from sourcesync.connectors.base import (
    BearerAuth,
    ConnectionSetting,
    Connector,
    ConnectorSpec,
    CreatedFilter,
    CreatedWindows,
    CursorPagination,
    GraphQLCursorPagination,
    HeaderAuth,
    JsonObject,
    LinkHeaderPagination,
    MappingContext,
    OAuth2Auth,
    OffsetPagination,
    PageNumberPagination,
    Pagination,
    Partition,
    RateLimit,
    RequestSpec,
    Stream,
    xml_decoder,
)
from sourcesync.connectors.kit import fields
from sourcesync.connectors.kit.pagination import next_link
from sourcesync.records import CustomerRecord, InvoiceRecord, RecordKind

# --------------------------------------------------------------------------------------------------
# A provider on localhost
# --------------------------------------------------------------------------------------------------


class Seen:
    """One request as the server received it."""

    def __init__(self, method: str, path: str, query: dict[str, list[str]], headers: Mapping[str, str], body: bytes):
        self.method, self.path, self.query, self.headers, self.body = method, path, query, headers, body

    def q(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None


Answer = tuple[int, dict[str, str], bytes]
Route = Callable[[Seen], Answer]


def json_answer(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> Answer:
    return status, {"Content-Type": "application/json", **(headers or {})}, json.dumps(body).encode()


class Provider:
    def __init__(self) -> None:
        self.routes: dict[tuple[str, str], Route] = {}
        self.seen: list[Seen] = []
        provider = self

        class Handler(BaseHTTPRequestHandler):
            def _serve(self) -> None:
                parts = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                seen = Seen(
                    self.command, parts.path, parse_qs(parts.query), dict(self.headers), self.rfile.read(length)
                )
                provider.seen.append(seen)
                route = provider.routes.get((self.command, parts.path))
                status, headers, body = route(seen) if route else json_answer({"error": "no route"}, 404)
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            do_GET = do_POST = _serve

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def provider() -> Iterator[Provider]:
    server = Provider()
    try:
        yield server
    finally:
        server.stop()


def map_customer(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
    return [CustomerRecord(external_id=str(obj["id"]), name=str(obj.get("name") or obj["id"]))]


def toy_spec(
    api_base: str,
    pagination: Pagination,
    *,
    page_size: int = 2,
    auth: Any = None,
    stream: Stream | None = None,
    **extra: Any,
) -> ConnectorSpec:
    return ConnectorSpec(
        system="toy",
        api_base=api_base,
        auth=auth or BearerAuth("api_key"),
        streams={RecordKind.CUSTOMERS: stream or Stream(RecordKind.CUSTOMERS, "/customers", map_customer)},
        check_credentials=RequestSpec("/customers", {"limit": 1}),
        rate_limit=RateLimit(1000.0, 100.0),
        pagination=pagination,
        page_size=page_size,
        **extra,
    )


CUSTOMERS = Partition(kind=RecordKind.CUSTOMERS, key="customers")


def drain(connector: Connector, partition: Partition = CUSTOMERS) -> list[str]:
    return [r.external_id for page in connector.iter_pages(partition) for r in page.records]


def toy(spec: ConnectorSpec, credentials: Mapping[str, str] | None = None, **kwargs: Any) -> Connector:
    return Connector(spec, credentials or {"api_key": "toy_key"}, sleep=lambda s: None, **kwargs)


# --------------------------------------------------------------------------------------------------
# Pagination strategies
# --------------------------------------------------------------------------------------------------


def test_cursor_pagination_sends_the_last_id_as_starting_after(provider: Provider) -> None:
    pages = {None: (["a", "b"], True), "b": (["c"], False)}
    provider.routes["GET", "/customers"] = lambda s: json_answer(
        {"data": [{"id": i} for i in pages[s.q("starting_after")][0]], "has_more": pages[s.q("starting_after")][1]}
    )
    assert drain(toy(toy_spec(provider.url, CursorPagination()))) == ["a", "b", "c"]
    assert [s.q("starting_after") for s in provider.seen] == [None, "b"]
    assert {s.q("limit") for s in provider.seen} == {"2"}


def test_offset_pagination_stops_on_a_short_page(provider: Provider) -> None:
    ids = ["a", "b", "c", "d", "e"]
    provider.routes["GET", "/customers"] = lambda s: json_answer(
        {"data": [{"id": i} for i in ids[int(s.q("offset") or 0) : int(s.q("offset") or 0) + int(s.q("limit") or 0)]]}
    )
    assert drain(toy(toy_spec(provider.url, OffsetPagination()))) == ids
    assert [s.q("offset") for s in provider.seen] == ["0", "2", "4"]


def test_offset_pagination_stops_at_the_total_without_an_empty_page(provider: Provider) -> None:
    ids = ["a", "b", "c", "d"]
    provider.routes["GET", "/customers"] = lambda s: json_answer(
        {"items": [{"id": i} for i in ids[int(s.q("offset") or 0) :][:2]], "meta": {"total": 4}}
    )
    spec = toy_spec(provider.url, OffsetPagination(items_field="items", total_field="meta.total"))
    assert drain(toy(spec)) == ids
    assert len(provider.seen) == 2


def test_link_header_pagination_follows_rel_next(provider: Provider) -> None:
    def page(seen: Seen) -> Answer:
        if seen.q("page_info") is None:
            link = f'<{provider.url}/customers?page_info=p2&limit=2>; rel="next", <{provider.url}/x>; rel="prev"'
            return json_answer([{"id": "a"}, {"id": "b"}], headers={"Link": link})
        return json_answer([{"id": "c"}], headers={"Link": f'<{provider.url}/customers?page_info=p1>; rel="previous"'})

    provider.routes["GET", "/customers"] = page
    assert drain(toy(toy_spec(provider.url, LinkHeaderPagination()))) == ["a", "b", "c"]
    assert [s.q("page_info") for s in provider.seen] == [None, "p2"]


def test_a_link_to_another_origin_is_refused(provider: Provider) -> None:
    provider.routes["GET", "/customers"] = lambda s: json_answer(
        [{"id": "a"}], headers={"Link": '<https://elsewhere.test/customers?page=2>; rel="next"'}
    )
    connector = toy(toy_spec(provider.url, LinkHeaderPagination()))
    first = connector.fetch_page(CUSTOMERS)
    with pytest.raises(ProviderResponseError, match="another origin"):
        connector.fetch_page(CUSTOMERS, first.next_cursor)


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        ('<https://a.test/x?p=2>; rel="next"', "https://a.test/x?p=2"),
        ('<https://a.test/x?p=1>; rel="prev", <https://a.test/x?p=3>; rel="next last"', "https://a.test/x?p=3"),
        ('<https://a.test/x?p=1>; rel="first"', None),
        ("", None),
    ],
    ids=["next", "next among others", "no next", "empty"],
)
def test_next_link_reads_rfc_8288_headers(header: str, expected: str | None) -> None:
    assert next_link({"Link": header} if header else {}) == expected


# --------------------------------------------------------------------------------------------------
# Decoders: XML and GraphQL
# --------------------------------------------------------------------------------------------------

XML_PAGE = b"""<?xml version="1.0"?>
<Response xmlns="https://api.example.test/2.0">
  <Contacts>
    <Contact status="ACTIVE"><ContactID>c1</ContactID><Name>Ada</Name></Contact>
  </Contacts>
  <Next>2</Next>
</Response>"""


def test_xml_decoder_turns_elements_into_dicts_and_declared_lists() -> None:
    decoded = xml_decoder(["Contacts", "Lines"])(XML_PAGE)
    assert decoded == {"Response": {"Contacts": [{"status": "ACTIVE", "ContactID": "c1", "Name": "Ada"}], "Next": "2"}}
    repeated = xml_decoder()(b"<a><b>1</b><b>2</b><b>3</b><c/></a>")
    assert repeated == {"a": {"b": ["1", "2", "3"], "c": None}}


def test_xml_decoder_refuses_entity_expansion() -> None:
    bomb = b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "aaaa"><!ENTITY b "&a;&a;">]><x>&b;</x>'
    with pytest.raises(ValueError, match="not readable XML"):
        xml_decoder()(bomb)


def test_an_xml_stream_is_fetched_and_mapped(provider: Provider) -> None:
    def page(seen: Seen) -> Answer:
        contacts = "".join(
            f"<Contact><ContactID>{i}</ContactID><Name>N{i}</Name></Contact>"
            for i in {"1": ["x1", "x2"], "2": ["x3"]}[seen.q("page") or "1"]
        )
        return (
            200,
            {"Content-Type": "application/xml"},
            f"<Response><Contacts>{contacts}</Contacts></Response>".encode(),
        )

    def map_contact(obj: JsonObject, ctx: MappingContext) -> list[CustomerRecord]:
        return [CustomerRecord(external_id=obj["ContactID"], name=obj["Name"])]

    provider.routes["GET", "/Contacts"] = page
    stream = Stream(
        RecordKind.CUSTOMERS,
        "/Contacts",
        map_contact,
        records_path="Response.Contacts",
        decoder=xml_decoder(["Contacts"]),
    )
    spec = toy_spec(provider.url, PageNumberPagination(size_param=None), stream=stream)
    assert drain(toy(spec)) == ["x1", "x2", "x3"]


def test_a_garbled_xml_answer_is_a_response_error(provider: Provider) -> None:
    provider.routes["GET", "/Contacts"] = lambda s: (200, {"Content-Type": "application/xml"}, b"<Response><oops")
    stream = Stream(RecordKind.CUSTOMERS, "/Contacts", map_customer, records_path="Response", decoder=xml_decoder())
    with pytest.raises(ProviderResponseError, match="not readable"):
        toy(toy_spec(provider.url, OffsetPagination(), stream=stream)).fetch_page(CUSTOMERS)


QUERY = (
    "query($first: Int, $after: String) "
    "{ customers(first: $first, after: $after) { nodes { id name } pageInfo { hasNextPage endCursor } } }"
)


def test_graphql_posts_the_query_and_follows_page_info(provider: Provider) -> None:
    def answer(seen: Seen) -> Answer:
        sent = json.loads(seen.body)
        assert sent["query"] == QUERY
        after = sent["variables"]["after"]
        nodes, more = ({"id": "g1"}, {"id": "g2"}), True
        if after == "CUR2":
            nodes, more = ({"id": "g3"},), False
        info = {"hasNextPage": more, "endCursor": "CUR2" if more else None}
        return json_answer({"data": {"customers": {"nodes": list(nodes), "pageInfo": info}}})

    provider.routes["POST", "/graphql"] = answer
    pagination = GraphQLCursorPagination(QUERY, "data.customers.nodes", "data.customers.pageInfo")
    spec = toy_spec(provider.url, pagination, stream=Stream(RecordKind.CUSTOMERS, "/graphql", map_customer))
    assert drain(toy(spec)) == ["g1", "g2", "g3"]
    assert [json.loads(s.body)["variables"] for s in provider.seen] == [
        {"first": 2, "after": None},
        {"first": 2, "after": "CUR2"},
    ]


def test_graphql_errors_are_response_errors(provider: Provider) -> None:
    provider.routes["POST", "/graphql"] = lambda s: json_answer({"errors": [{"message": "Field 'x' doesn't exist"}]})
    pagination = GraphQLCursorPagination(QUERY, "data.customers.nodes", "data.customers.pageInfo")
    spec = toy_spec(provider.url, pagination, stream=Stream(RecordKind.CUSTOMERS, "/graphql", map_customer))
    with pytest.raises(ProviderResponseError, match="GraphQL answer has errors"):
        toy(spec).fetch_page(CUSTOMERS)


# --------------------------------------------------------------------------------------------------
# Hosts that depend on the account
# --------------------------------------------------------------------------------------------------

SITE_SPEC = toy_spec(
    "https://{site}.chargebee.com/api/v2",
    OffsetPagination(),
    settings={"site": ConnectionSetting()},
    windows=CreatedWindows(),
    stream=Stream(RecordKind.CUSTOMERS, "/customers", map_customer, created_filter=CreatedFilter()),
)
REGION_SPEC = toy_spec(
    "https://{region}/",
    OffsetPagination(),
    auth=HeaderAuth("X-Api-Key"),
    settings={
        "region": ConnectionSetting(choices={"us": "v3.recurly.com", "eu": "v3.eu.recurly.com"}, default="us"),
        "tenant": ConnectionSetting(pattern=r"[0-9]{1,12}"),
    },
    settings_headers={"X-Tenant-Id": "{tenant}"},
)


def test_the_host_template_is_filled_from_the_accounts_settings_and_keeps_created_windows() -> None:
    connector = toy(SITE_SPEC, {"api_key": "k", "site": "acme-test"})
    assert connector.api_base == "https://acme-test.chargebee.com/api/v2"
    assert connector.partitioning == "created_windows"
    partitions = connector.plan_partitions(datetime(2026, 1, 1, tzinfo=UTC))
    assert len(partitions) > 1 and all(p.kind is RecordKind.CUSTOMERS for p in partitions)


def test_a_region_choice_and_a_tenant_header(provider: Provider) -> None:
    eu = toy(REGION_SPEC, {"api_key": "k", "region": "eu", "tenant": "42"})
    us = toy(REGION_SPEC, {"api_key": "k", "tenant": "7"})
    assert (eu.api_base, us.api_base) == ("https://v3.eu.recurly.com", "https://v3.recurly.com")
    assert REGION_SPEC.headers({"tenant": "42"}) == {"X-Tenant-Id": "42"}


@pytest.mark.parametrize(
    ("spec", "credentials"),
    [
        (SITE_SPEC, {"api_key": "k"}),
        (SITE_SPEC, {"api_key": "k", "site": "evil.test/x?"}),
        (SITE_SPEC, {"api_key": "k", "site": "a.b"}),
        (REGION_SPEC, {"api_key": "k", "region": "mars", "tenant": "1"}),
        (REGION_SPEC, {"api_key": "k", "tenant": "1; drop"}),
    ],
    ids=["missing site", "site with a path", "site with a dot", "unknown region", "tenant not a number"],
)
def test_bad_connection_settings_are_invalid_credentials_before_any_request(
    spec: ConnectorSpec, credentials: dict[str, str]
) -> None:
    with pytest.raises(CredentialsInvalidError):
        toy(spec, credentials)


def test_api_base_replaces_the_whole_host_when_given(provider: Provider) -> None:
    provider.routes["GET", "/customers"] = lambda s: json_answer({"data": [{"id": "local"}]})
    connector = Connector(SITE_SPEC, {"api_key": "k", "site": "acme"}, {"api_base": provider.url}, sleep=lambda s: None)
    assert connector.api_base == provider.url
    assert connector.fetch_page(CUSTOMERS).records[0].external_id == "local"
    # an explicit choice keeps the windows against the override too
    explicit = Connector(
        SITE_SPEC, {"api_key": "k", "site": "acme"}, {"api_base": provider.url, "partitioning": "created_windows"}
    )
    assert explicit.partitioning == "created_windows"


def test_header_auth_sends_the_key_in_the_providers_header(provider: Provider) -> None:
    provider.routes["GET", "/customers"] = lambda s: json_answer({"data": []})
    toy(
        toy_spec(provider.url, OffsetPagination(), auth=HeaderAuth("X-Api-Key", prefix="Key ")), {"api_key": "hk_1"}
    ).check_credentials()
    assert provider.seen[0].headers["X-Api-Key"] == "Key hk_1"


# --------------------------------------------------------------------------------------------------
# OAuth2 grants and the token store
# --------------------------------------------------------------------------------------------------


class RememberingTokenStore:
    """The kit's TokenStore interface, keeping what it was given (the store over Secrets Manager is
    tested against moto's server in tests/integration/test_token_store_secrets_manager.py)."""

    def __init__(self) -> None:
        self.saved: list[dict[str, str]] = []

    def save(self, credentials: Mapping[str, str]) -> None:
        self.saved.append(dict(credentials))


def token_endpoint(provider: Provider, tokens: list[str], *, rotate: bool = False) -> list[dict[str, list[str]]]:
    forms: list[dict[str, list[str]]] = []

    def grant(seen: Seen) -> Answer:
        form = parse_qs(seen.body.decode())
        forms.append({**form, "authorization": [seen.headers.get("Authorization", "")]})
        if form.get("refresh_token") == ["revoked"]:
            return json_answer({"error": "invalid_grant"}, 400)
        token = tokens.pop(0)
        body: dict[str, Any] = {"access_token": token, "token_type": "bearer", "expires_in": 3600}
        if rotate:
            body["refresh_token"] = f"rt_after_{token}"
        return json_answer(body)

    provider.routes["POST", "/oauth/token"] = grant
    return forms


def bearer_only(provider: Provider, valid: set[str]) -> None:
    def customers(seen: Seen) -> Answer:
        if seen.headers.get("Authorization", "").removeprefix("Bearer ") not in valid:
            return json_answer({"error": "expired"}, 401)
        return json_answer({"data": [{"id": "c1"}]})

    provider.routes["GET", "/customers"] = customers


def test_client_credentials_grant_obtains_a_token_saves_it_and_uses_it(provider: Provider) -> None:
    forms = token_endpoint(provider, ["at_1"])
    bearer_only(provider, {"at_1"})
    store = RememberingTokenStore()
    auth = OAuth2Auth(f"{provider.url}/oauth/token", "client_credentials", scope="read")
    connector = toy(
        toy_spec(provider.url, OffsetPagination(), auth=auth),
        {"client_id": "cid", "client_secret": "cs"},
        token_store=store,
        wall_clock=lambda: 1000.0,
    )

    assert drain(connector) == ["c1"]

    assert forms == [
        {
            "grant_type": ["client_credentials"],
            "scope": ["read"],
            "authorization": ["Basic " + base64.b64encode(b"cid:cs").decode()],
        }
    ]
    assert store.saved == [{"client_id": "cid", "client_secret": "cs", "access_token": "at_1", "expires_at": "4600"}]
    assert provider.seen[-1].headers["Authorization"] == "Bearer at_1"


def test_refresh_token_grant_renews_on_401_and_saves_the_rotated_refresh_token(provider: Provider) -> None:
    forms = token_endpoint(provider, ["at_new"], rotate=True)
    bearer_only(provider, {"at_new"})
    store = RememberingTokenStore()
    auth = OAuth2Auth("/oauth/token", "refresh_token", client_in_body=True)
    credentials = {"client_id": "cid", "client_secret": "cs", "refresh_token": "rt_0", "access_token": "at_old"}
    connector = toy(toy_spec(provider.url, OffsetPagination(), auth=auth), credentials, token_store=store)

    assert drain(connector) == ["c1"]

    assert forms[0]["grant_type"] == ["refresh_token"] and forms[0]["refresh_token"] == ["rt_0"]
    assert forms[0]["client_id"] == ["cid"] and forms[0]["client_secret"] == ["cs"]
    assert [s.headers.get("Authorization") for s in provider.seen if s.path == "/customers"] == [
        "Bearer at_old",
        "Bearer at_new",
    ]
    assert store.saved[-1]["refresh_token"] == "rt_after_at_new"
    assert store.saved[-1]["access_token"] == "at_new"


def test_a_current_token_is_used_without_asking_for_another(provider: Provider) -> None:
    forms = token_endpoint(provider, ["never"])
    bearer_only(provider, {"at_ok"})
    store = RememberingTokenStore()
    auth = OAuth2Auth("/oauth/token", "refresh_token")
    credentials = {
        "client_id": "c",
        "client_secret": "s",
        "refresh_token": "r",
        "access_token": "at_ok",
        "expires_at": "5000",
    }
    connector = toy(
        toy_spec(provider.url, OffsetPagination(), auth=auth), credentials, token_store=store, wall_clock=lambda: 1000.0
    )
    assert drain(connector) == ["c1"]
    assert forms == [] and store.saved == []


def test_a_refused_grant_is_invalid_credentials_and_nothing_is_saved(provider: Provider) -> None:
    token_endpoint(provider, [])
    store = RememberingTokenStore()
    auth = OAuth2Auth("/oauth/token", "refresh_token")
    credentials = {"client_id": "c", "client_secret": "s", "refresh_token": "revoked"}
    connector = toy(toy_spec(provider.url, OffsetPagination(), auth=auth), credentials, token_store=store)
    with pytest.raises(CredentialsInvalidError) as caught:
        connector.check_credentials()
    assert store.saved == []
    assert "revoked" not in str(caught.value)


# --------------------------------------------------------------------------------------------------
# Lists without created-time filters, and the per-customer fetch
# --------------------------------------------------------------------------------------------------


def map_invoice_ids(obj: JsonObject, ctx: MappingContext) -> list[InvoiceRecord]:
    return [
        InvoiceRecord(
            external_id=obj["id"],
            customer_external_id=obj["customer"],
            date=fields.required_ts(obj["date"], "date"),
            currency="EUR",
            line_items=(),
        )
    ]


def per_customer_spec(api_base: str) -> ConnectorSpec:
    """Customers split by creation time; plans and invoices without a filter; invoices of one customer
    under the customer (`/accounts/{id}/invoices`)."""
    return ConnectorSpec(
        system="toy",
        api_base=api_base,
        auth=BearerAuth("api_key"),
        streams={
            RecordKind.CUSTOMERS: Stream(
                RecordKind.CUSTOMERS, "/accounts", map_customer, created_filter=CreatedFilter()
            ),
            RecordKind.PLANS: Stream(RecordKind.PLANS, "/plans", map_customer),
            RecordKind.INVOICES: Stream(
                RecordKind.INVOICES, "/invoices", map_invoice_ids, customer_path="/accounts/{id}/invoices"
            ),
        },
        check_credentials=RequestSpec("/accounts", {"limit": 1}),
        rate_limit=RateLimit(1000.0, 100.0),
        pagination=OffsetPagination(),
        customer_path="/accounts/{id}",
        windows=CreatedWindows(),
    )


def test_a_list_without_a_created_filter_is_one_partition_beside_windowed_ones() -> None:
    spec = per_customer_spec("https://toy.test")
    partitions = toy(spec).plan_partitions(datetime(2026, 6, 1, tzinfo=UTC))
    by_kind = {kind: [p for p in partitions if p.kind is kind] for kind in spec.streams}
    assert by_kind[RecordKind.PLANS] == [Partition(kind=RecordKind.PLANS, key="plans")]
    assert by_kind[RecordKind.INVOICES] == [Partition(kind=RecordKind.INVOICES, key="invoices")]
    assert len(by_kind[RecordKind.CUSTOMERS]) > 1


def test_a_customer_resync_reads_the_lists_declared_under_the_customer(provider: Provider) -> None:
    provider.routes["GET", "/accounts/acc%201"] = lambda s: json_answer({"id": "acc 1", "name": "Ada"})
    provider.routes["GET", "/accounts/acc%201/invoices"] = lambda s: json_answer(
        {"data": [{"id": "inv_1", "customer": "acc 1", "date": 1_700_000_000}]}
    )
    records = toy(per_customer_spec(provider.url)).fetch_customer("acc 1")
    assert [(type(r).__name__, r.external_id) for r in records] == [
        ("CustomerRecord", "acc 1"),
        ("InvoiceRecord", "inv_1"),
    ]
    assert [s.path for s in provider.seen] == ["/accounts/acc%201", "/accounts/acc%201/invoices"]  # plans: source-wide


# --------------------------------------------------------------------------------------------------
# Field helpers
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1_700_000_000, datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)),
        ("2024-03-01T10:00:00Z", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        ("2024-03-01T12:00:00+02:00", datetime(2024, 3, 1, 10, tzinfo=UTC)),
        (True, None),
        ("yesterday", None),
        (None, None),
    ],
    ids=["unix seconds", "iso z", "iso offset", "bool", "garbage", "none"],
)
def test_ts(value: Any, expected: datetime | None) -> None:
    assert fields.ts(value) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [(1234, 1234), ("12.34", 1234), (12.345, 1235), ("0.005", 1), (True, None), ("NaN", None), ("x", None)],
    ids=["int", "decimal string", "float half up", "tiny", "bool", "nan", "garbage"],
)
def test_cents(value: Any, expected: int | None) -> None:
    assert fields.cents(value) == expected


def test_currency_integer_dig_and_references() -> None:
    assert [fields.currency(v) for v in ("usd", " eur ", "euro", 3, "")] == ["USD", "EUR", None, None, None]
    assert [fields.integer(v) for v in (3, True, 3.0, "3")] == [3, None, None, None]
    assert fields.dig({"a": {"b": {"c": 1}}}, "a.b.c") == 1
    assert fields.dig({"a": {"b": "x"}}, "a.b.c") is None
    assert (fields.ref_id("cus_1"), fields.ref_id({"id": "cus_2"}), fields.ref_id({"x": 1})) == ("cus_1", "cus_2", None)
    with pytest.raises(ValueError, match="customer is missing"):
        fields.required_id(None, "customer")
    assert fields.first(None, "", "x", "y") == "x"
