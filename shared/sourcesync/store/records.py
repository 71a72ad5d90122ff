"""Source records, versioned by generation (RecordsTable).

Layout (see docs/architecture.md for the why):

* customers:  ``pk=R#<ds>#C<shard>``  ``sk=<customer uuid>#<gen>``
* children:   ``pk=R#<ds>#K<shard>``  ``sk=<customer uuid>#<kind code>#<record uuid>#<gen>``
  (subscriptions, invoices, transactions, stored beside their customer: one Query reads a customer)
* plans:      ``pk=R#<ds>#P``         ``sk=<plan uuid>#<gen>``

`shard` comes from the customer's uuid, so a source's records spread over `SHARDS` partitions of each
group, which is also the unit the purge and the clean-ups fan out over. Every item is one *version*
of a record, written at generation `g`; a reader at committed generation G sees, per record, the
version with the greatest `g <= G` that is not in the source's aborted generations, unless that
version is a tombstone (`del`). A re-sync therefore writes only what changed: a new version for a
changed record, a tombstone for a vanished one, nothing for an unchanged one. The record itself is
stored as zlib-compressed JSON (`d`), which keeps almost every item under 1 KB, i.e. one write unit.
The table has no index over records: an index would double the write units of every record.
"""

from __future__ import annotations

import hashlib
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sourcesync import json_codec
from sourcesync.config import get_settings
from sourcesync.ids import record_uuid
from sourcesync.records import RECORD_MODEL, UUID_PREFIX, AnyRecord, RecordKind
from sourcesync.store.dynamo import all_items, ddb, from_item, pages, to_item

SHARDS = 16
GEN_WIDTH = 8
KIND_CODE = {RecordKind.SUBSCRIPTIONS: "s", RecordKind.INVOICES: "i", RecordKind.TRANSACTIONS: "t"}
CODE_KIND = {code: kind for kind, code in KIND_CODE.items()}
BATCH = 25


@dataclass(frozen=True)
class View:
    """What a reader may see of a source: its committed generation minus aborted ones."""

    generation: int
    aborted: frozenset[int] = frozenset()

    def admits(self, gen: int) -> bool:
        return gen <= self.generation and gen not in self.aborted


@dataclass(frozen=True)
class StoredRecord:
    kind: RecordKind
    uuid: str
    customer_uuid: str | None
    generation: int
    record: AnyRecord


@dataclass(frozen=True)
class Placement:
    """Where every version of one record lives."""

    pk: str
    sk_prefix: str

    def key(self, gen: int) -> dict[str, str]:
        return {"pk": self.pk, "sk": f"{self.sk_prefix}{gen:0{GEN_WIDTH}x}"}


def shard_of(uuid: str) -> int:
    return int(hashlib.sha256(uuid.encode()).digest()[0]) % SHARDS


@lru_cache(maxsize=65_536)
def uuid_for(account_id: str, data_source_uuid: str, kind: RecordKind, external_id: str) -> str:
    """A record's uuid (cached: a customer's is asked for again for each of its subscriptions, invoices and
    transactions, and a worker's records are of one source)."""
    return record_uuid(UUID_PREFIX[kind], account_id, data_source_uuid, kind.value, external_id)


def customer_external_id(kind: RecordKind, record: AnyRecord) -> str | None:
    if kind is RecordKind.CUSTOMERS:
        return record.external_id
    return getattr(record, "customer_external_id", None)


def placement(data_source_uuid: str, kind: RecordKind, uuid: str, customer_uuid: str | None) -> Placement:
    if kind is RecordKind.PLANS:
        return Placement(f"R#{data_source_uuid}#P", f"{uuid}#")
    if kind is RecordKind.CUSTOMERS:
        return Placement(f"R#{data_source_uuid}#C{shard_of(uuid):02d}", f"{uuid}#")
    owner = customer_uuid or "cus_none"
    return Placement(f"R#{data_source_uuid}#K{shard_of(owner):02d}", f"{owner}#{KIND_CODE[kind]}#{uuid}#")


def kind_of_key(pk: str, sk: str) -> str:
    """The kind of record a stored item's key holds (the purge counts kinds without reading items)."""
    group = pk.rsplit("#", 1)[-1][:1]
    if group == "C":
        return RecordKind.CUSTOMERS.value
    if group == "P":
        return RecordKind.PLANS.value
    parts = sk.split("#")
    return CODE_KIND[parts[1]].value if len(parts) > 2 and parts[1] in CODE_KIND else "other"


def partition_keys(data_source_uuid: str) -> list[str]:
    """Every partition a source's records can live in (the purge's units of work)."""
    groups = [f"R#{data_source_uuid}#C{s:02d}" for s in range(SHARDS)]
    groups += [f"R#{data_source_uuid}#K{s:02d}" for s in range(SHARDS)]
    return [*groups, f"R#{data_source_uuid}#P"]


def canonical(record: AnyRecord) -> tuple[bytes, str]:
    """The record's canonical JSON and its content hash (what a re-sync compares to skip unchanged records),
    without compressing it: a re-sync compresses only what changed (`compress`). The records hold no
    floats, as `json_codec.canonical` requires (a test checks every record model)."""
    body = json_codec.canonical(record.model_dump(mode="json"))
    return body, hashlib.blake2b(body, digest_size=8).hexdigest()


#: Up to this size a body is compressed with a window its size and a quarter of zlib's default hash table.
SMALL_BODY = 4096


def compress(body: bytes) -> bytes:
    """The stored payload of a canonical JSON body: zlib at level 6.

    A record's body is a few hundred bytes: `zlib.compress` sets up (allocates and clears) its default state
    of about 256 KB for each one, which cost 10 to 80 µs a record depending on the heap. Up to `SMALL_BODY`
    the state is sized to the body (a window as large as it, at least 512 bytes, and memory level 4): the
    same bytes compress in about 8 µs, to the same size or within a few bytes; a larger body gets zlib's
    defaults. Any zlib stream decompresses alike (its header names the window), and the content hash is of
    the body, not of the payload."""
    if len(body) > SMALL_BODY:
        return zlib.compress(body, 6)
    compressor = zlib.compressobj(6, zlib.DEFLATED, max(9, (len(body) - 1).bit_length()), 4)
    return compressor.compress(body) + compressor.flush()


def encode(record: AnyRecord) -> tuple[bytes, str]:
    """The stored payload and the content hash."""
    body, content_hash = canonical(record)
    return compress(body), content_hash


def decode(kind: RecordKind, payload: bytes) -> AnyRecord:
    record: AnyRecord = RECORD_MODEL[kind].model_validate_json(zlib.decompress(payload))  # type: ignore[assignment]
    return record


@dataclass(frozen=True)
class Version:
    """One version to write: a record at a generation, or a tombstone (record None)."""

    kind: RecordKind
    uuid: str
    customer_uuid: str | None
    external_id: str
    generation: int
    record: AnyRecord | None
    payload: bytes | None = None
    content_hash: str | None = None

    def key(self, data_source_uuid: str) -> dict[str, str]:
        return placement(data_source_uuid, self.kind, self.uuid, self.customer_uuid).key(self.generation)

    def item(self, data_source_uuid: str) -> dict[str, Any]:
        where = placement(data_source_uuid, self.kind, self.uuid, self.customer_uuid)
        values: dict[str, Any] = {
            **where.key(self.generation),
            "g": self.generation,
            "k": self.kind.value,
            "u": self.uuid,
            "x": self.external_id,
        }
        if self.customer_uuid and self.kind is not RecordKind.CUSTOMERS:
            values["c"] = self.customer_uuid
        if self.record is None:
            values["del"] = True
        else:
            payload, content_hash = (self.payload, self.content_hash) if self.payload else encode(self.record)
            values["d"] = payload
            values["h"] = content_hash
        return values

    def wire_item(self, data_source_uuid: str) -> dict[str, Any]:
        """`item` in DynamoDB's wire format, built directly (every record an import writes goes through
        here): its values are strings, an int, bytes and a flag, and boto3's generic serializer cost a
        re-sync worker a tenth of its CPU. A test holds it equal to `to_item(self.item(...))`."""
        key = placement(data_source_uuid, self.kind, self.uuid, self.customer_uuid).key(self.generation)
        wire: dict[str, Any] = {
            "pk": {"S": key["pk"]},
            "sk": {"S": key["sk"]},
            "g": {"N": str(self.generation)},
            "k": {"S": self.kind.value},
            "u": {"S": self.uuid},
            "x": {"S": self.external_id},
        }
        if self.customer_uuid and self.kind is not RecordKind.CUSTOMERS:
            wire["c"] = {"S": self.customer_uuid}
        if self.record is None:
            wire["del"] = {"BOOL": True}
        else:
            payload, content_hash = (self.payload, self.content_hash) if self.payload else encode(self.record)
            wire["d"] = {"B": payload}
            wire["h"] = {"S": content_hash}
        return wire


class RecordStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    # ------------------------------------------------------------------ writes
    def write(self, data_source_uuid: str, versions: Iterable[Version]) -> int:
        """Put versions with BatchWriteItem (25 a request, unprocessed items retried). Returns the count."""
        requests = [{"PutRequest": {"Item": v.wire_item(data_source_uuid)}} for v in versions]
        self._batch(requests)
        return len(requests)

    def delete(self, keys: Iterable[dict[str, str]]) -> int:
        requests = [{"DeleteRequest": {"Key": {name: {"S": value} for name, value in key.items()}}} for key in keys]
        self._batch(requests)
        return len(requests)

    def _batch(self, requests: list[dict[str, Any]]) -> None:
        import time

        for start in range(0, len(requests), BATCH):
            pending = requests[start : start + BATCH]
            delay = 0.05
            while pending:
                answer = ddb().batch_write_item(RequestItems={self.table: pending})
                pending = answer.get("UnprocessedItems", {}).get(self.table, [])
                if pending:
                    time.sleep(delay)
                    delay = min(delay * 2, 2.0)

    # ------------------------------------------------------------------ reads
    def versions_of(
        self, data_source_uuid: str, wanted: Iterable[tuple[RecordKind, str, str | None]]
    ) -> list[dict[str, Any]]:
        """Every stored version of the given records (kind, uuid, customer uuid): one consistent Query per
        record, 8 at a time. The Import API reads what it replaces this way (it cannot know generations)."""
        prefixes: dict[tuple[str, str], None] = {}
        for kind, uuid, customer_uuid in wanted:
            where = placement(data_source_uuid, kind, uuid, customer_uuid)
            prefixes[(where.pk, where.sk_prefix)] = None
        return self._query_many(list(prefixes))

    def children_of(self, data_source_uuid: str, customer_uuids: Iterable[str]) -> list[dict[str, Any]]:
        """Every stored version of the customers' subscriptions, invoices and transactions (a Query each)."""
        return self._query_many(
            [(f"R#{data_source_uuid}#K{shard_of(uuid):02d}", f"{uuid}#") for uuid in dict.fromkeys(customer_uuids)]
        )

    def _query_many(self, prefixes: list[tuple[str, str]]) -> list[dict[str, Any]]:
        from concurrent.futures import ThreadPoolExecutor

        if not prefixes:
            return []
        with ThreadPoolExecutor(min(8, len(prefixes))) as pool:
            found = pool.map(lambda where: list(self._query(where[0], where[1])), prefixes)
            return [item for items in found for item in items]

    @staticmethod
    def newest(items: Iterable[dict[str, Any]], view: View) -> dict[str, dict[str, Any]]:
        """Per record uuid, the newest stored version the view admits (tombstones included)."""
        newest: dict[str, dict[str, Any]] = {}
        for item in items:
            if view.admits(item["g"]) and (item["u"] not in newest or item["g"] > newest[item["u"]]["g"]):
                newest[item["u"]] = item
        return newest

    @staticmethod
    def superseded(items: Iterable[dict[str, Any]], view: View) -> list[dict[str, str]]:
        """Keys of versions no reader at `view` or later can see: older than a record's newest admitted
        version (replaced by a committed write, or left by an attempt that never committed)."""
        items = list(items)
        newest = RecordStore.newest(items, view)
        return [{"pk": i["pk"], "sk": i["sk"]} for i in items if i["u"] in newest and i["g"] < newest[i["u"]]["g"]]

    @staticmethod
    def stored(item: dict[str, Any]) -> StoredRecord:
        kind = RecordKind(item["k"])
        return StoredRecord(kind, item["u"], item.get("c"), item["g"], decode(kind, item["d"]))

    def keys_in(
        self,
        pk: str,
        generation: int | None = None,
        limit: int = 1000,
        start: dict[str, Any] | None = None,
        consistent: bool = True,
    ) -> tuple[list[dict[str, str]], dict[str, Any] | None]:
        """Keys of one partition (optionally only those written at `generation`), a page at a time
        (`consistent=False`: an eventually consistent read, for a purge that reads until nothing is left)."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk",
            "ProjectionExpression": "pk, sk",
            "Limit": limit,
            "ExpressionAttributeValues": to_item({":pk": pk}),
            "ConsistentRead": consistent,
        }
        if generation is not None:
            request["FilterExpression"] = "g = :g"
            request["ExpressionAttributeValues"] = to_item({":pk": pk, ":g": generation})
        if start:
            request["ExclusiveStartKey"] = start
        answer = ddb().query(**request)
        return [from_item(i) for i in answer.get("Items", [])], answer.get("LastEvaluatedKey")

    def delete_generation(self, data_source_uuid: str, generation: int) -> int:
        """Delete every version written at `generation` (an attempt undone), a page of keys at a time."""
        deleted = 0
        for pk in partition_keys(data_source_uuid):
            start = None
            while True:
                keys, start = self.keys_in(pk, generation=generation, start=start)
                deleted += self.delete(keys)
                if start is None:
                    break
        return deleted

    def _query(
        self, pk: str, sk_prefix: str | None = None, after_sk: str | None = None, limit: int | None = None
    ) -> Iterator[dict[str, Any]]:
        request: dict[str, Any] = {"TableName": self.table, "ConsistentRead": True}
        values: dict[str, Any] = {":pk": pk}
        condition = "pk = :pk"
        if sk_prefix is not None:
            condition += " AND begins_with(sk, :prefix)"
            values[":prefix"] = sk_prefix
        elif after_sk is not None:
            condition += " AND sk > :after"
            values[":after"] = after_sk
        request.update(KeyConditionExpression=condition, ExpressionAttributeValues=to_item(values))
        if limit:  # one page only
            request["Limit"] = limit
            yield from (from_item(i) for i in ddb().query(**request).get("Items", []))
        else:
            yield from all_items(request)

    @staticmethod
    def visible(items: Iterable[dict[str, Any]], view: View) -> list[StoredRecord]:
        """Per record uuid, the newest version the view admits, unless it is a tombstone."""
        return [RecordStore.stored(item) for item in RecordStore.newest(items, view).values() if not item.get("del")]

    def customer(self, data_source_uuid: str, customer_uuid: str, view: View) -> list[StoredRecord]:
        """A customer and every child record of it that the view admits ([] if the customer is absent)."""
        own = placement(data_source_uuid, RecordKind.CUSTOMERS, customer_uuid, None)
        customers = self.visible(self._query(own.pk, own.sk_prefix), view)
        if not customers:
            return []
        child_pk = f"R#{data_source_uuid}#K{shard_of(customer_uuid):02d}"
        return customers + self.visible(self._query(child_pk, f"{customer_uuid}#"), view)

    def customer_exists(self, data_source_uuid: str, customer_uuid: str, view: View) -> bool:
        """Whether the view admits a live version of the customer (its own partition only: one small Query)."""
        own = placement(data_source_uuid, RecordKind.CUSTOMERS, customer_uuid, None)
        return bool(self.visible(self._query(own.pk, own.sk_prefix), view))

    def owner_of(self, data_source_uuid: str, kind: RecordKind, uuid: str, view: View) -> str | None:
        """The customer a child record (a subscription) belongs to, without knowing it beforehand: a filtered
        Query of the source's child partitions, which reads them whole. Only for sources without manifests
        (custom sources, whose data the user pushes)."""
        from concurrent.futures import ThreadPoolExecutor

        def scan(shard: int) -> list[dict[str, Any]]:
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "FilterExpression": "u = :u",
                "ExpressionAttributeValues": to_item({":pk": f"R#{data_source_uuid}#K{shard:02d}", ":u": uuid}),
                "ConsistentRead": True,
            }
            return list(all_items(request))

        with ThreadPoolExecutor(8) as pool:
            items = [i for found in pool.map(scan, range(SHARDS)) for i in found if i["k"] == kind.value]
        visible = self.visible(items, view)
        return visible[0].customer_uuid if visible else None

    def plans(self, data_source_uuid: str, view: View) -> list[StoredRecord]:
        return self.visible(self._query(f"R#{data_source_uuid}#P"), view)

    def customers_page(
        self, data_source_uuid: str, view: View, limit: int, after_uuid: str | None
    ) -> tuple[list[StoredRecord], str | None]:
        """Customers in uuid order, merged over the shards: one page, and the uuid to continue after (None
        when no more follow). A page may be short, even empty, when many scanned versions are invisible."""
        candidates: list[StoredRecord] = []
        scanned: list[str] = []
        cut: str | None = None
        after_sk = f"{after_uuid}#~" if after_uuid else None
        for shard in range(SHARDS):
            items = list(self._query(f"R#{data_source_uuid}#C{shard:02d}", after_sk=after_sk, limit=limit * 2 + 2))
            if len(items) == limit * 2 + 2:  # more in this shard: its last customer's versions may continue
                last_uuid = items[-1]["u"]
                items = [i for i in items if i["u"] != last_uuid]
                cut = last_uuid if cut is None or last_uuid < cut else cut
            scanned.extend(i["u"] for i in items)
            candidates.extend(self.visible(items, view))
        candidates.sort(key=lambda r: r.uuid)
        if cut is not None:
            candidates = [r for r in candidates if r.uuid < cut]
        if len(candidates) > limit:
            return candidates[:limit], candidates[limit - 1].uuid
        if cut is None:
            return candidates, None
        # Every shard has been read completely below `cut`: continue after the last customer read there.
        below = [u for u in scanned if u < cut]
        return candidates, max(below) if below else cut

    def all_visible(self, data_source_uuid: str, view: View) -> list[StoredRecord]:
        """Every record of a source that the view admits (a full read: for reprocessing)."""
        found: list[StoredRecord] = []
        for pk in partition_keys(data_source_uuid):
            found.extend(self.visible(self._query(pk), view))
        return found

    def count_items(self, data_source_uuid: str) -> int:
        total = 0
        for pk in partition_keys(data_source_uuid):
            request: dict[str, Any] = {
                "TableName": self.table,
                "KeyConditionExpression": "pk = :pk",
                "Select": "COUNT",
                "ExpressionAttributeValues": to_item({":pk": pk}),
            }
            total += sum(answer["Count"] for answer in pages(request))
        return total


def get_record_store() -> RecordStore:
    return RecordStore(get_settings().records_table)
