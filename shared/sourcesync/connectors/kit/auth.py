"""Authentication: how credentials become request headers.

API keys: `BearerAuth`, `BasicAuth`, `HeaderAuth` (a key in a header of the provider's choosing).
OAuth2 (`OAuth2Auth`): the client-credentials and refresh-token grants. A token obtained or refreshed
is saved through the `TokenStore` the connector receives (the pipeline passes one implemented over
Secrets Manager, `store/tokens.py`), so that connectors themselves never write.
"""

from __future__ import annotations

import base64
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Protocol

from sourcesync.connectors.errors import CredentialsInvalidError


class TokenStore(Protocol):
    """Where a source's credentials go after a token is obtained or refreshed (a refresh-token grant
    may rotate the refresh token: losing it would lock the source out)."""

    def save(self, credentials: Mapping[str, str]) -> None: ...


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

    def oauth2(self) -> OAuth2Auth | None:
        """The OAuth2 grant, when the credentials are tokens that expire."""
        return None


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


@dataclass(frozen=True)
class HeaderAuth(Auth):
    """An API key in a header of the provider's choosing (`X-Api-Key: <key>`, `Authorization: Token <key>`)."""

    header: str = "X-Api-Key"
    credential: str = "api_key"
    prefix: str = ""

    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]:
        return {self.header: f"{self.prefix}{credential(credentials, self.credential)}"}

    def secrets(self, credentials: Mapping[str, Any]) -> list[str]:
        return [credential(credentials, self.credential)]


@dataclass(frozen=True)
class OAuth2Auth(Auth):
    """OAuth2 bearer tokens from `token_url` (absolute, or a path on the provider's host).

    `grant`: `client_credentials` (credentials `client_id`, `client_secret`) or `refresh_token` (also
    `refresh_token`, which the provider may rotate). The current token is kept in the credentials as
    `access_token` and `expires_at` (unix seconds); it is renewed `leeway_seconds` before it expires
    and once more when the provider answers 401.
    """

    token_url: str
    grant: Literal["client_credentials", "refresh_token"] = "client_credentials"
    scope: str | None = None
    client_in_body: bool = False  # the client's id and secret in the form rather than HTTP Basic
    leeway_seconds: float = 60.0

    def oauth2(self) -> OAuth2Auth:
        return self

    def headers(self, credentials: Mapping[str, Any]) -> dict[str, str]:
        token = credentials.get("access_token")
        return {"Authorization": f"Bearer {token}"} if isinstance(token, str) and token else {}

    def secrets(self, credentials: Mapping[str, Any]) -> list[str]:
        names = ("client_id", "client_secret", "refresh_token", "access_token")
        return [
            str(credentials[name]) for name in names if isinstance(credentials.get(name), str) and credentials[name]
        ]

    def needs_token(self, credentials: Mapping[str, Any], now: float) -> bool:
        expires_at = credentials.get("expires_at")
        if not credentials.get("access_token"):
            return True
        try:
            return expires_at is not None and float(expires_at) - self.leeway_seconds <= now
        except (TypeError, ValueError):
            return True

    def token_request(self, credentials: Mapping[str, Any]) -> tuple[dict[str, str], dict[str, str]]:
        """The form and the headers of a token request (RFC 6749 sections 4.4 and 6)."""
        client_id, client_secret = credential(credentials, "client_id"), credential(credentials, "client_secret")
        form: dict[str, str] = {"grant_type": self.grant}
        if self.grant == "refresh_token":
            form["refresh_token"] = credential(credentials, "refresh_token")
        if self.scope:
            form["scope"] = self.scope
        headers: dict[str, str] = {"Accept": "application/json"}
        if self.client_in_body:
            form |= {"client_id": client_id, "client_secret": client_secret}
        else:
            pair = base64.b64encode(f"{client_id}:{client_secret}".encode()).decode("ascii")
            headers["Authorization"] = f"Basic {pair}"
        return form, headers

    def renewed(self, credentials: Mapping[str, Any], answer: Any, now: float) -> dict[str, str]:
        """The credentials with the token of a successful token answer."""
        token = answer.get("access_token") if isinstance(answer, dict) else None
        if not isinstance(token, str) or not token:
            raise CredentialsInvalidError("the token endpoint answered without an access_token")
        renewed = {str(k): str(v) for k, v in credentials.items()} | {"access_token": token}
        expires_in = answer.get("expires_in")
        if isinstance(expires_in, int | float) and not isinstance(expires_in, bool):
            renewed["expires_at"] = str(int(now + expires_in))
        else:
            renewed.pop("expires_at", None)
        rotated = answer.get("refresh_token")
        if isinstance(rotated, str) and rotated:
            renewed["refresh_token"] = rotated
        return renewed
