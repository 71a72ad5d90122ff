"""Opaque list cursors: the position to continue after, base64url-encoded and checked on the way back."""

from __future__ import annotations

import base64
import binascii
import re

from sourcesync.errors import InvalidRequestError

_ID = r"[a-z]{2,5}_[0-9a-z]{26}"
_POSITION = re.compile(rf"^{_ID}(/{_ID})?$")


def encode_cursor(position: str | None) -> str | None:
    return base64.urlsafe_b64encode(position.encode()).decode().rstrip("=") if position else None


def decode_cursor(cursor: str | None) -> str | None:
    if cursor is None:
        return None
    try:
        position = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        position = ""
    if not _POSITION.match(position):
        raise InvalidRequestError("Bad cursor.", [{"loc": "cursor", "msg": "not a cursor this API returned"}])
    return position
