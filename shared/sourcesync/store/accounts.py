"""Accounts and their API keys (AccountsTable).

Keys are random secrets shown once; only their SHA-256 is stored (a key has 200 bits of entropy, so
a fast hash is the right tool: nothing to brute-force). Items:

* ``pk=ACCOUNT#<account_id>, sk=ACCOUNT``            the account
* ``pk=ACCOUNT#<account_id>, sk=KEY#<key_id>``       a key's metadata, for listing (no hash)
* ``pk=KEYHASH#<sha256>,     sk=KEY``                a key's lookup item: account, key id, role
* ``pk=ACCOUNT#<account_id>, sk=AUDIT#<when>#<job>``  an audit record (deletes, support actions)
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any, Literal

from sourcesync.config import get_settings
from sourcesync.store.dynamo import ddb, from_item, to_item

Role = Literal["member", "support"]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the account the key belongs to, the key's id (for audits) and its role."""

    account_id: str
    key_id: str
    role: Role


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
                            {"pk": f"ACCOUNT#{principal.account_id}", "sk": f"KEY#{principal.key_id}", **meta}
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

    def find_key(self, key_hash: str) -> Principal | None:
        answer = ddb().get_item(TableName=self.table, Key=to_item({"pk": f"KEYHASH#{key_hash}", "sk": "KEY"}))
        if "Item" not in answer:
            return None
        item = from_item(answer["Item"])
        return Principal(account_id=item["account_id"], key_id=item["key_id"], role=item["role"])


def get_account_store() -> AccountStore:
    return AccountStore(get_settings().accounts_table)
