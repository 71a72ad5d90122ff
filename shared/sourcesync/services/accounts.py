"""Accounts and API keys: the operator's commands (`sourcesync account create`, `key create`), the key
management of the API (`/v1/api_keys`: list, revoke, rotate) and the authentication of every request.

Every key operation that changes something (create, revoke, rotate) takes the audit path a delete takes.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from sourcesync.clock import iso, now, now_iso, parse_iso
from sourcesync.errors import NotFoundError, UnauthorizedError
from sourcesync.ids import is_id, new_id
from sourcesync.log import logger
from sourcesync.services.audit import publish
from sourcesync.store.accounts import KEY_TOUCH_SECONDS, Principal, Role, get_account_store, hash_key
from sourcesync.store.dynamo import Item

KEY_PREFIX = "ssk_"
#: A rotated key keeps working at most this long (7 days); 0 revokes it with the rotation.
MAX_GRACE_PERIOD_SECONDS = 7 * 24 * 3600
_UNAUTHORIZED = "A valid API key is required (Authorization: Bearer <key>)."


@dataclass(frozen=True)
class NewKey:
    account_id: str
    key_id: str
    role: Role
    api_key: str  # shown once, stored only as a hash
    created_at: str = ""


def _secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def _audit_key(action: str, actor: Principal | None, account_id: str, key_id: str, **extra: Any) -> None:
    """Audit a key operation (`actor` None: the operator, through the CLI and its AWS credentials)."""
    at = now_iso()
    record = {
        "action": action,
        "account_id": account_id,
        "api_key_id": key_id,
        "key_id": actor.key_id if actor else None,
        "role": actor.role if actor else "operator",
        "at": at,
        **extra,
    }
    detail_type = {"create_api_key": "ApiKeyCreated", "revoke_api_key": "ApiKeyRevoked"}.get(action, "ApiKeyRotated")
    publish(detail_type, account_id, f"{at}#{new_id('aud')}", record)  # two operations in one second: two items


def _new_key(account_id: str, role: Role) -> NewKey:
    created_at = now_iso()
    key = NewKey(account_id=account_id, key_id=new_id("key"), role=role, api_key=_secret(), created_at=created_at)
    get_account_store().put_key(Principal(account_id, key.key_id, role), hash_key(key.api_key), created_at)
    _audit_key("create_api_key", None, account_id, key.key_id, api_key_role=role)
    return key


def create_account(name: str) -> NewKey:
    """A new account and its first `member` key."""
    if not name.strip():
        raise ValueError("An account needs a name.")
    account_id = new_id("acct")
    get_account_store().put_account(account_id, name.strip(), now_iso())
    return _new_key(account_id, "member")


def create_key(account_id: str, role: Role) -> NewKey:
    if not get_account_store().account_exists(account_id):
        raise NotFoundError(f"No account {account_id}.")
    return _new_key(account_id, role)


def authenticate(api_key: str | None) -> Principal:
    if not api_key or not api_key.startswith(KEY_PREFIX) or len(api_key) > 200:
        raise UnauthorizedError(_UNAUTHORIZED)
    key_hash = hash_key(api_key)
    stored = get_account_store().find_key(key_hash)
    if stored is None:
        raise UnauthorizedError(_UNAUTHORIZED)
    at = now()
    if stored.expires_at is not None and parse_iso(stored.expires_at) <= at:
        raise UnauthorizedError(_UNAUTHORIZED)  # a rotated key after its grace period
    if stored.last_used_at is None or at - parse_iso(stored.last_used_at) >= timedelta(seconds=KEY_TOUCH_SECONDS):
        try:
            get_account_store().touch_key(key_hash, iso(at))
        except Exception:  # a missed `last_used_at` must not fail the request
            logger.exception("last_used_at could not be written", key_id=stored.principal.key_id)
    return stored.principal


# ---------------------------------------------------------------------------------------------- /v1/api_keys


def present_key(item: Item) -> dict[str, Any]:
    """What the API shows of a key: never the secret, never its hash."""
    return {
        "id": item["key_id"],
        "role": item["role"],
        "created_at": item["created_at"],
        "last_used_at": item.get("last_used_at"),
        "expires_at": item.get("expires_at"),
    }


def list_keys(principal: Principal, limit: int, after_key_id: str | None) -> tuple[list[Item], str | None]:
    """The caller's account's keys that still work (a rotated key shows until its grace period ends)."""
    items, last = get_account_store().list_keys(principal.account_id, limit, after_key_id)
    at = now()
    return [item for item in items if not item.get("expires_at") or parse_iso(item["expires_at"]) > at], last


def _own_key(principal: Principal, key_id: str) -> Item:
    """A key of the caller's account that still works; 404 for anything else (another account's key too)."""
    item = get_account_store().get_key(principal.account_id, key_id) if is_id(key_id, "key") else None
    if item is None or (item.get("expires_at") and parse_iso(item["expires_at"]) <= now()):
        raise NotFoundError("No such API key.")
    return item


def revoke(principal: Principal, key_id: str) -> None:
    """Revoke a key of the caller's account at once (the caller's own key too, even the account's last)."""
    item = _own_key(principal, key_id)
    if not get_account_store().delete_key(principal.account_id, key_id, item["key_hash"]):
        raise NotFoundError("No such API key.")
    _audit_key("revoke_api_key", principal, principal.account_id, key_id, api_key_role=item["role"])


def rotate(principal: Principal, key_id: str, grace_period_seconds: int) -> tuple[NewKey, str | None]:
    """A new key with the old one's role; the old one stops working after the grace period (at once
    for 0). Answers the new key (its secret shown once) and when the old one stops working."""
    old = _own_key(principal, key_id)
    created_at = now_iso()
    new = NewKey(
        account_id=principal.account_id,
        key_id=new_id("key"),
        role=old["role"],
        api_key=_secret(),
        created_at=created_at,
    )
    expires_at = iso(now() + timedelta(seconds=grace_period_seconds)) if grace_period_seconds > 0 else None
    if expires_at and old.get("expires_at"):  # a key rotated twice keeps its earlier end
        expires_at = min(expires_at, old["expires_at"])
    done = get_account_store().rotate_key(
        old, Principal(new.account_id, new.key_id, new.role), hash_key(new.api_key), created_at, expires_at
    )
    if not done:
        raise NotFoundError("No such API key.")
    _audit_key(
        "rotate_api_key",
        principal,
        principal.account_id,
        key_id,
        new_api_key_id=new.key_id,
        api_key_role=new.role,
        grace_period_seconds=grace_period_seconds,
        old_key_expires_at=expires_at or created_at,
    )
    return new, expires_at or created_at
