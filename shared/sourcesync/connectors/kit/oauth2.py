"""Obtaining an OAuth2 token (client-credentials or refresh-token grant) through the HTTP client, with
its retries and redaction. The token endpoint may live on another host than the API (an identity
provider): it then gets a client of its own, which never carries the API's headers."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from sourcesync.connectors.errors import CredentialsInvalidError, ProviderRequestError
from sourcesync.connectors.kit.auth import OAuth2Auth
from sourcesync.connectors.kit.http import HttpClient


def request_token(
    grant: OAuth2Auth, credentials: dict[str, Any], api: HttpClient, now: float, system: str
) -> dict[str, str]:
    """The credentials with a new access token (and a rotated refresh token, when the provider sends
    one). A refused grant (400 `invalid_grant`, `invalid_client`; 401) is `CredentialsInvalidError`."""
    form, headers = grant.token_request(credentials)
    parts = urlsplit(grant.token_url)
    if parts.scheme:
        client = HttpClient(
            f"{parts.scheme}://{parts.netloc}",
            secrets=grant.secrets(credentials),
            retry=api.retry,
            system=system,
        )
        path = parts.path + (f"?{parts.query}" if parts.query else "")
    else:
        client, path = api, grant.token_url
    try:
        reply = client.request(path, method="POST", form=form, headers=headers)
    except ProviderRequestError as exc:
        if exc.status == 400:
            raise CredentialsInvalidError(
                f"the token endpoint refused the grant: {exc.message}", system=system, status=400
            ) from None
        raise
    finally:
        if client is not api:
            client.close()
    return grant.renewed(credentials, reply.body, now)
