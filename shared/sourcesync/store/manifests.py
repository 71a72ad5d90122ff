"""Manifests: per generation and kind, which records a source holds and the hash and generation of
each one's live version. They live in S3, where a re-sync reads them in bulk for the price of a few
GETs, instead of one DynamoDB read per record; a re-sync compares what it fetches against them to
write only what changed, and compares two generations' manifests to find vanished records and the
versions a commit made unreachable.

Object keys: ``<account>/<source>/g<generation>/<kind>/<partition>/<seq>.json.z``; each object is a
zlib-compressed JSON map ``uuid -> [content hash, generation, customer uuid | null]``. A customer re-sync
copies the committed generation's objects and adds one that sorts last (``~customer-<job>``), whose
entries override the copied ones; an entry with a fourth element ``1`` removes the record. Beside them,
``g<generation>/subscription-owners/`` maps subscription uuids to their customer: in one object, ``all.json.z``,
up to `OWNERS_IN_ONE_OBJECT` subscriptions; beyond, in 32 shards, ``<c>.json.z`` for the uuids ending in ``c``.
"""

from __future__ import annotations

import hashlib
import re
import zlib
from collections.abc import Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import NamedTuple

from sourcesync import json_codec
from sourcesync.aws import client
from sourcesync.config import get_settings

OWNERS = "subscription-owners"
#: S3 requests a load or the owner shards' write make at once (a re-sync's reconcile and clean-up wait on them).
PARALLEL_REQUESTS = 8
SHARD_CHARACTERS = "0123456789abcdefghjkmnpqrstvwxyz"  # the last character of a record uuid (base32)
#: Up to this many subscriptions, a generation's owners are one object (about 60 bytes each, 300 KB of JSON at
#: most): a re-sync in which no subscription changed copies it as one request rather than 32, and a lookup
#: reads it whole. Beyond, they are sharded, so that a lookup reads about 1/32 of them.
OWNERS_IN_ONE_OBJECT = 5_000
ALL_OWNERS = "all"


class Entry(NamedTuple):
    content_hash: str
    generation: int
    customer_uuid: str | None


Manifest = dict[str, Entry]

FINGERPRINT_MODULUS = 1 << 64


def fingerprint(uuids: Iterable[str]) -> int:
    """A set's fingerprint: the sum, modulo 2**64, of each uuid's 64-bit BLAKE2b digest. Sums add up across
    chunks and partitions, so a re-sync can tell, without reloading any manifest, that the records it saw
    unchanged are exactly the previous generation's: equal counts and equal fingerprints (a uuid seen twice
    while another vanished would need two digests to collide)."""
    total = 0
    for uuid in uuids:
        total += int.from_bytes(hashlib.blake2b(uuid.encode(), digest_size=8).digest(), "big")
    return total % FINGERPRINT_MODULUS


def _safe(partition_key: str) -> str:
    return re.sub(r"[^A-Za-z0-9._=-]", "_", partition_key)


class ManifestStore:
    def __init__(self, bucket: str) -> None:
        self.bucket = bucket

    @staticmethod
    def source_prefix(account_id: str, data_source_uuid: str) -> str:
        return f"{account_id}/{data_source_uuid}/"

    def _prefix(self, account_id: str, data_source_uuid: str, generation: int, kind: str | None = None) -> str:
        prefix = f"{self.source_prefix(account_id, data_source_uuid)}g{generation}/"
        return f"{prefix}{kind}/" if kind else prefix

    def put_chunk(
        self,
        account_id: str,
        data_source_uuid: str,
        generation: int,
        kind: str,
        partition_key: str,
        seq: int,
        entries: Manifest,
    ) -> None:
        body = zlib.compress(json_codec.dumps({u: list(e) for u, e in entries.items()}))
        key = f"{self._prefix(account_id, data_source_uuid, generation, kind)}{_safe(partition_key)}/{seq:06d}.json.z"
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)

    def _keys(self, prefix: str) -> Iterator[str]:
        paginator = client("s3").get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                yield obj["Key"]

    def load(
        self,
        account_id: str,
        data_source_uuid: str,
        generation: int | None,
        kind: str,
        partition_key: str | None = None,
    ) -> Manifest:
        """Every entry of a generation's kind (or of one of its partitions); {} for no generation."""
        if generation is None:
            return {}
        prefix = self._prefix(account_id, data_source_uuid, generation, kind)
        if partition_key is not None:
            prefix += f"{_safe(partition_key)}/"
        manifest: Manifest = {}
        s3 = client("s3")
        keys = sorted(self._keys(prefix))
        with ThreadPoolExecutor(max_workers=max(1, min(PARALLEL_REQUESTS, len(keys)))) as pool:  # in key order
            bodies = list(pool.map(lambda key: s3.get_object(Bucket=self.bucket, Key=key)["Body"].read(), keys))
        for body in bodies:
            for uuid, value in json_codec.loads(zlib.decompress(body)).items():
                if len(value) > 3 and value[3]:
                    manifest.pop(uuid, None)
                else:
                    manifest[uuid] = Entry(value[0], int(value[1]), value[2])
        return manifest

    def copy_generation(self, account_id: str, data_source_uuid: str, source: int, target: int) -> int:
        """Copy every manifest object of one generation to another (a customer re-sync's starting point)."""
        s3, copied = client("s3"), 0
        old = self._prefix(account_id, data_source_uuid, source)
        new = self._prefix(account_id, data_source_uuid, target)
        for key in self._keys(old):
            s3.copy_object(
                Bucket=self.bucket, Key=new + key[len(old) :], CopySource={"Bucket": self.bucket, "Key": key}
            )
            copied += 1
        return copied

    def put_override(
        self,
        account_id: str,
        data_source_uuid: str,
        generation: int,
        kind: str,
        name: str,
        entries: Manifest,
        removed: set[str],
    ) -> None:
        """Entries that override the generation's others for `kind`, and the records that are gone."""
        values: dict[str, list[object]] = {u: list(e) for u, e in entries.items()}
        values.update({uuid: ["", 0, None, 1] for uuid in removed})
        body = zlib.compress(json_codec.dumps(values))
        key = f"{self._prefix(account_id, data_source_uuid, generation, kind)}~{_safe(name)}/000000.json.z"
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=body)

    # ------------------------------------------------------------------ which customer a subscription is of
    # The records table has no index, so `GET /v1/subscriptions/{uuid}` asks here: per generation, the
    # subscriptions' owners in one small object, or, for a source of more than OWNERS_IN_ONE_OBJECT
    # subscriptions, in 32 shards by the uuid's last character (uuids end in hash digits), so that one lookup
    # reads about 1/32 of them rather than the whole subscriptions manifest.
    def _owners_key(self, account_id: str, data_source_uuid: str, generation: int, shard: str) -> str:
        return f"{self._prefix(account_id, data_source_uuid, generation)}{OWNERS}/{shard}.json.z"

    def put_owners(
        self, account_id: str, data_source_uuid: str, generation: int, owners: dict[str, str | None]
    ) -> None:
        """Change the owners of the given subscriptions (None: the subscription is gone), in the object or
        the shards they are kept in."""
        whole = self._owners_key(account_id, data_source_uuid, generation, ALL_OWNERS)
        current = self._read_owners(whole)
        if current is not None:
            self._write_owners(whole, {**current, **owners})
            return
        shards: dict[str, dict[str, str | None]] = {}
        for uuid, owner in owners.items():
            shards.setdefault(uuid[-1], {})[uuid] = owner
        for shard, changes in shards.items():
            key = self._owners_key(account_id, data_source_uuid, generation, shard)
            self._write_owners(key, {**(self._read_owners(key) or {}), **changes})

    def put_all_owners(self, account_id: str, data_source_uuid: str, generation: int, manifest: Manifest) -> None:
        """Every owner of a generation, from its whole subscriptions manifest: one object, or every shard
        (empty ones too) beyond `OWNERS_IN_ONE_OBJECT` subscriptions."""
        owners = {uuid: entry.customer_uuid for uuid, entry in manifest.items() if entry.customer_uuid}
        if len(manifest) <= OWNERS_IN_ONE_OBJECT:
            self._write_owners(self._owners_key(account_id, data_source_uuid, generation, ALL_OWNERS), dict(owners))
            return
        shards: dict[str, dict[str, str | None]] = {c: {} for c in SHARD_CHARACTERS}
        for uuid, owner in owners.items():
            shards.setdefault(uuid[-1], {})[uuid] = owner

        def put(shard: str) -> None:
            self._write_owners(self._owners_key(account_id, data_source_uuid, generation, shard), shards[shard])

        with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
            list(pool.map(put, shards))

    def copy_owners(self, account_id: str, data_source_uuid: str, source: int, target: int) -> bool:
        """Copy a generation's owners to another whose subscriptions are the same (server-side copies,
        nothing parsed): its one object, or its every shard. False, and nothing copied, if the source
        generation has neither."""
        prefix = f"{self._prefix(account_id, data_source_uuid, source)}{OWNERS}/"
        present = set(self._keys(prefix))
        whole = self._owners_key(account_id, data_source_uuid, source, ALL_OWNERS)
        if whole in present:
            keys = [whole]
        elif all(self._owners_key(account_id, data_source_uuid, source, c) in present for c in SHARD_CHARACTERS):
            keys = sorted(present - {whole})
        else:
            return False
        s3 = client("s3")
        target_prefix = f"{self._prefix(account_id, data_source_uuid, target)}{OWNERS}/"

        def copy(key: str) -> None:
            s3.copy_object(
                Bucket=self.bucket,
                Key=target_prefix + key[len(prefix) :],
                CopySource={"Bucket": self.bucket, "Key": key},
            )

        if len(keys) == 1:
            copy(keys[0])
        else:
            with ThreadPoolExecutor(max_workers=PARALLEL_REQUESTS) as pool:
                list(pool.map(copy, keys))
        return True

    def owner(self, account_id: str, data_source_uuid: str, generation: int, subscription_uuid: str) -> str | None:
        """The customer uuid a subscription of the generation belongs to (one small read, two for a sharded
        generation); None if unknown."""
        for shard in (ALL_OWNERS, subscription_uuid[-1]):
            found = self._read_owners(self._owners_key(account_id, data_source_uuid, generation, shard))
            if found is not None:
                return found.get(subscription_uuid)
        # a generation written before owners were kept: the whole manifest
        entry = self.load(account_id, data_source_uuid, generation, "subscriptions").get(subscription_uuid)
        return entry.customer_uuid if entry else None

    def _read_owners(self, key: str) -> dict[str, str | None] | None:
        s3 = client("s3")
        try:
            body = s3.get_object(Bucket=self.bucket, Key=key)["Body"].read()
        except s3.exceptions.NoSuchKey:
            return None
        owners: dict[str, str | None] = json_codec.loads(zlib.decompress(body))
        return owners

    def _write_owners(self, key: str, owners: dict[str, str | None]) -> None:
        body = {uuid: owner for uuid, owner in owners.items() if owner is not None}
        client("s3").put_object(Bucket=self.bucket, Key=key, Body=zlib.compress(json_codec.dumps(body)))

    def delete_prefix(self, prefix: str) -> int:
        s3, deleted = client("s3"), 0
        batch: list[dict[str, str]] = []
        for key in self._keys(prefix):
            batch.append({"Key": key})
            if len(batch) == 1000:
                s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
                deleted, batch = deleted + len(batch), []
        if batch:
            s3.delete_objects(Bucket=self.bucket, Delete={"Objects": batch, "Quiet": True})
            deleted += len(batch)
        return deleted

    def delete_generation(self, account_id: str, data_source_uuid: str, generation: int) -> int:
        return self.delete_prefix(self._prefix(account_id, data_source_uuid, generation))

    def delete_source(self, account_id: str, data_source_uuid: str) -> int:
        return self.delete_prefix(self.source_prefix(account_id, data_source_uuid))


def get_manifest_store() -> ManifestStore:
    return ManifestStore(get_settings().manifest_bucket)
