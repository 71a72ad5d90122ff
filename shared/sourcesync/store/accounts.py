"""Accounts and their API keys (AccountsTable).

Keys are random secrets shown once; only their SHA-256 is stored (a key has 200 bits of entropy, so
a fast hash is the right tool: nothing to brute-force). Items:

* ``pk=ACCOUNT#<account_id>, sk=ACCOUNT``            the account
* ``pk=ACCOUNT#<account_id>, sk=KEY#<key_id>``       a key's metadata, for listing (and its hash, to revoke it)
* ``pk=KEYHASH#<sha256>,     sk=KEY``                a key's lookup item: account, key id, role
* ``pk=ACCOUNT#<account_id>, sk=AUDIT#<when>#<id>``   an audit record (deletes, support actions, key operations)
* ``pk=ACCOUNT#<account_id>, sk=STARTED#<job_id>``    a job a support key of this account started elsewhere

A rotated key's two items carry `expires_at` (ISO) and `expires_epoch` (the table's TTL attribute): the
key stops working at `expires_at` whatever TTL does; TTL only tidies up. `last_used_at` is written on the
lookup item at most once a minute per key (`KEY_TOUCH_SECONDS`), not on every request.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sourcesync.config import get_settings
from sourcesync.store.dynamo import Item, all_items, ddb, from_item, is_condition_failure, to_item

Role = Literal["member", "support"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account the key belongs to, the key's id (for audits) and its role."""

    account_id: str
    key_id: str
    role: Role


@dataclass(frozen=True)
class StoredKey:
    """A key's lookup item: who it is, when it stops working (a rotated key), when it was last used."""

    principal: Principal
    expires_at: str | None
    last_used_at: str | None


#: `last_used_at` is written when the stored value is older than this (one write a minute per key at most).
KEY_TOUCH_SECONDS = 60


def hash_key(api_key: str) -> str:
    return hashlib.sha256(api_key.encode()).hexdigest()


class AccountStore:
    def __init__(self, table_name: str) -> None:
        self.table = table_name

    def put_account(self, account_id: str, name: str, created_at: str) -> None:
        ddb().put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": f"ACCOUNT#{account_id}",
                    "sk": "ACCOUNT",
                    "account_id": account_id,
                    "name": name,
                    "created_at": created_at,
                }
            ),
            ConditionExpression="attribute_not_exists(pk)",
        )

    def account_exists(self, account_id: str) -> bool:
        answer = ddb().get_item(
            TableName=self.table,
            Key=to_item({"pk": f"ACCOUNT#{account_id}", "sk": "ACCOUNT"}),
            ConsistentRead=True,
        )
        return "Item" in answer

    def put_key(self, principal: Principal, key_hash: str, created_at: str) -> None:
        meta = {
            "account_id": principal.account_id,
            "key_id": principal.key_id,
            "role": principal.role,
            "created_at": created_at,
        }
        ddb().transact_write_items(
            TransactItems=[
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEY", **meta}),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
                {
                    "Put": {
                        "TableName": self.table,
                        "Item": to_item(
                            {
                                "pk": f"ACCOUNT#{principal.account_id}",
                                "sk": f"KEY#{principal.key_id}",
                                "key_hash": key_hash,
                                **meta,
                            }
                        ),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )

    def put_audit(self, account_id: str, sort: str, record: dict[str, Any]) -> None:
        """An audit record of the account's: kept after what it describes is gone."""
        ddb().put_item(
            TableName=self.table, Item=to_item({"pk": f"ACCOUNT#{account_id}", "sk": f"AUDIT#{sort}", **record})
        )

    def find_key(self, key_hash: str) -> StoredKey | None:
        """The key with this hash; a strongly consistent read, so that a revoked key fails at once."""
        answer = ddb().get_item(
            TableName=self.table, Key=to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEY"}), ConsistentRead=True
        )
        if "Item" not in answer:
            return None
        item = from_item(answer["Item"])
        return StoredKey(
            principal=Principal(account_id=item["account_id"], key_id=item["key_id"], role=item["role"]),
            expires_at=item.get("expires_at"),
            last_used_at=item.get("last_used_at"),
        )

    # ------------------------------------------------------------------------------------------ key management

    def _meta_key(self, account_id: str, key_id: str) -> dict[str, Any]:
        return to_item({"pk": f"ACCOUNT#{account_id}", "sk": f"KEY#{key_id}"})

    def _lookup_key(self, key_hash: str) -> dict[str, Any]:
        return to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEY"})

    def list_keys(self, account_id: str, limit: int, after_key_id: str | None) -> tuple[list[Item], str | None]:
        """One page of the account's keys, in key id order; the key id to continue after, or None."""
        request: dict[str, Any] = {
            "TableName": self.table,
            "KeyConditionExpression": "pk = :pk AND begins_with(sk, :key)",
            "ExpressionAttributeValues": to_item({":pk": f"ACCOUNT#{account_id}", ":key": "KEY#"}),
            "Limit": limit,
        }
        if after_key_id:
            request["ExclusiveStartKey"] = self._meta_key(account_id, after_key_id)
        answer = ddb().query(**request)
        items = [from_item(item) for item in answer.get("Items", [])]
        used = self._last_uses([item["key_hash"] for item in items if item.get("key_hash")])
        for item in items:
            item["last_used_at"] = used.get(item.get("key_hash", ""))
        last = answer.get("LastEvaluatedKey")
        return items, (from_item(last)["sk"].removeprefix("KEY#") if last else None)

    def get_key(self, account_id: str, key_id: str) -> Item | None:
        """A key's metadata (with its hash), if the key belongs to the account."""
        answer = ddb().get_item(TableName=self.table, Key=self._meta_key(account_id, key_id), ConsistentRead=True)
        if "Item" not in answer:
            return None
        meta = from_item(answer["Item"])
        if "key_hash" not in meta:  # a key made before the hash was kept beside its metadata: find it once
            meta["key_hash"] = self._find_hash(account_id, key_id)
        return meta

    def _find_hash(self, account_id: str, key_id: str) -> str:
        request: dict[str, Any] = {
            "TableName": self.table,
            "FilterExpression": "sk = :key AND account_id = :account AND key_id = :id",
            "ExpressionAttributeValues": to_item({":key": "KEY", ":account": account_id, ":id": key_id}),
        }
        for item in all_items(request, "scan"):
            return str(item["pk"]).removeprefix("KEYHASH#")
        return ""  # no lookup item: the key cannot authenticate anyway

    def delete_key(self, account_id: str, key_id: str, key_hash: str) -> bool:
        """Remove both items of a key; False if it was gone already."""
        try:
            ddb().transact_write_items(
                TransactItems=[
                    {
                        "Delete": {
                            "TableName": self.table,
                            "Key": self._meta_key(account_id, key_id),
                            "ConditionExpression": "attribute_exists(pk)",
                        }
                    },
                    {"Delete": {"TableName": self.table, "Key": self._lookup_key(key_hash)}},
                ]
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def rotate_key(self, old: Item, new: Principal, new_hash: str, created_at: str, expires_at: str | None) -> bool:
        """In one transaction: the new key's items, and the old key set to expire at `expires_at` (or
        removed, for None). False if the old key was gone already."""
        meta = {"account_id": new.account_id, "key_id": new.key_id, "role": new.role, "created_at": created_at}
        old_keys = [self._meta_key(old["account_id"], old["key_id"]), self._lookup_key(old["key_hash"])]
        if expires_at is None:
            retire: list[dict[str, Any]] = [
                {"Delete": {"TableName": self.table, "Key": key, "ConditionExpression": "attribute_exists(pk)"}}
                for key in old_keys
            ]
        else:
            epoch = int(datetime.fromisoformat(expires_at.replace("Z", "+00:00")).timestamp())
            retire = [
                {
                    "Update": {
                        "TableName": self.table,
                        "Key": key,
                        "UpdateExpression": "SET expires_at = :at, expires_epoch = :epoch, replaced_by = :new",
                        "ConditionExpression": "attribute_exists(pk)",
                        "ExpressionAttributeValues": to_item({":at": expires_at, ":epoch": epoch, ":new": new.key_id}),
                    }
                }
                for key in old_keys
            ]
        try:
            ddb().transact_write_items(
                TransactItems=[
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item({"pk": f"KEYHASH#{new_hash}", "sk": "KEY", **meta}),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    {
                        "Put": {
                            "TableName": self.table,
                            "Item": to_item(
                                {"pk": f"ACCOUNT#{new.account_id}", "sk": f"KEY#{new.key_id}", "key_hash": new_hash}
                                | meta
                            ),
                            "ConditionExpression": "attribute_not_exists(pk)",
                        }
                    },
                    *retire,
                ]
            )
        except Exception as error:
            if is_condition_failure(error):
                return False
            raise
        return True

    def touch_key(self, key_hash: str, used_at: str) -> None:
        """Record that a key was used: one write, on the lookup item authentication reads anyway (never
        re-creates a key revoked meanwhile). Listing reads it from there."""
        try:
            ddb().update_item(
                TableName=self.table,
                Key=self._lookup_key(key_hash),
                UpdateExpression="SET last_used_at = :at",
                ConditionExpression="attribute_exists(pk)",
                ExpressionAttributeValues=to_item({":at": used_at}),
            )
        except Exception as error:
            if not is_condition_failure(error):
                raise

    def _last_uses(self, key_hashes: list[str]) -> dict[str, str]:
        """key hash -> last_used_at, from the lookup items (BatchGetItem, 100 keys a request)."""
        found: dict[str, str] = {}
        for start in range(0, len(key_hashes), 100):
            keys = [self._lookup_key(h) for h in key_hashes[start : start + 100]]
            request = {self.table: {"Keys": keys, "ProjectionExpression": "pk, last_used_at"}}
            while request:
                answer = ddb().batch_get_item(RequestItems=request)
                for item in answer.get("Responses", {}).get(self.table, []):
                    plain = from_item(item)
                    if plain.get("last_used_at"):
                        found[str(plain["pk"]).removeprefix("KEYHASH#")] = str(plain["last_used_at"])
                request = answer.get("UnprocessedKeys") or {}
        return found

    # ------------------------------------------------------------------------------------------ support jobs

    def put_started_job(self, principal: Principal, job_account_id: str, job_id: str, at: str) -> None:
        """Remember, in the key's own account, a job a support key started in another account."""
        ddb().put_item(
            TableName=self.table,
            Item=to_item(
                {
                    "pk": f"ACCOUNT#{principal.account_id}",
                    "sk": f"STARTED#{job_id}",
                    "job_account_id": job_account_id,
                    "key_id": principal.key_id,
                    "at": at,
                }
            ),
        )

    def started_job_account(self, principal: Principal, job_id: str) -> str | None:
        """The account of a job this very key started through a support action, or None."""
        answer = ddb().get_item(
            TableName=self.table,
            Key=to_item({"pk": f"ACCOUNT#{principal.account_id}", "sk": f"STARTED#{job_id}"}),
            ConsistentRead=True,
        )
        item = from_item(answer["Item"]) if "Item" in answer else None
        if item is None or item.get("key_id") != principal.key_id:
            return None
        return str(item["job_account_id"])


def get_account_store() -> AccountStore:
    return AccountStore(get_settings().accounts_table)
