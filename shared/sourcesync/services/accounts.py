"""Accounts and API keys: the operator's commands (`sourcesync account create`, `key create`) and
the authentication of every API request."""

from __future__ import annotations

import secrets
from dataclasses import dataclass

from sourcesync.clock import now_iso
from sourcesync.errors import NotFoundError, UnauthorizedError
from sourcesync.ids import new_id
from sourcesync.store.accounts import Principal, Role, get_account_store, hash_key

KEY_PREFIX = "ssk_"


@dataclass(frozen=True)
class NewKey:
    account_id: str
    key_id: str
    role: Role
    api_key: str  # shown once, stored only as a hash


def _new_key(account_id: str, role: Role) -> NewKey:
    api_key = KEY_PREFIX + secrets.token_urlsafe(32)
    key = NewKey(account_id=account_id, key_id=new_id("key"), role=role, api_key=api_key)
    get_account_store().put_key(Principal(account_id, key.key_id, role), hash_key(api_key), now_iso())
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
        raise UnauthorizedError("A valid API key is required (Authorization: Bearer <key>).")
    principal = get_account_store().find_key(hash_key(api_key))
    if principal is None:
        raise UnauthorizedError("A valid API key is required (Authorization: Bearer <key>).")
    return principal
