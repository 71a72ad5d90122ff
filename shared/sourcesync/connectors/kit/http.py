"""The one HTTP client every connector uses: it draws from a request budget before every attempt.

Written once, for every connector: timeouts, retries with exponential backoff and full jitter, `Retry-After`,
the error policy (which statuses mean "credentials invalid", "transient", "permanent"), a request budget
shared by every concurrent worker of a source, and redaction of credentials. Connectors only describe
themselves (`base.ConnectorSpec`); they never talk HTTP.

Time is injected (`clock`, `wall_clock`, `sleep`, `random`) so that tests are exact and fast.

The request budget is an interface (`kit.budget.RequestBudget`); the one shared by a source's workers is
implemented in `store/request_budget.py` and passed in.
"""

from __future__ import annotations

import email.utils
import logging
import os
import random as _random
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import urlsplit

import requests
from requests.adapters import HTTPAdapter

from sourcesync import json_codec
from sourcesync.connectors.errors import (
    ConnectorError,
    CredentialsInvalidError,
    ProviderNotFoundError,
    ProviderRequestError,
    ProviderResponseError,
    ProviderUnavailableError,
)
from sourcesync.connectors.kit.budget import Clock, RequestBudget, Sleep

logger = logging.getLogger(__name__)

ParamValue = str | int | float | Sequence[str]
Params = Mapping[str, ParamValue]

REDACTED = "[REDACTED]"

#: Turns an answer's bytes into dicts and lists; raises ValueError when it cannot (see `kit.decoders`).
Decoder = Callable[[bytes], Any]


@dataclass(frozen=True)
class Reply:
    """A decoded answer and its headers."""

    body: Any
    headers: Mapping[str, str]


SENSITIVE_HEADERS = frozenset({"authorization", "proxy-authorization", "cookie", "set-cookie", "x-api-key", "api-key"})


def redact_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """A copy of `headers` that is safe to log: credentials-bearing headers are replaced."""
    return {name: (REDACTED if name.lower() in SENSITIVE_HEADERS else value) for name, value in headers.items()}


class Redactor:
    """Replaces every occurrence of the given secrets in a text (for messages built from answers)."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so that a secret containing another is replaced whole.
        self._secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def add(self, secret: str) -> None:
        if secret and secret not in self._secrets:
            self._secrets = sorted([*self._secrets, secret], key=len, reverse=True)

    def __call__(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def error(self, exc: ConnectorError) -> ConnectorError:
        """Redact, in place, every text of a connector error that may come from the provider (its
        message, the provider's error code, the request id it echoed in a header)."""
        exc.message = self(exc.message)
        exc.args = (exc.message, *exc.args[1:])
        if exc.provider_code is not None:
            exc.provider_code = self(exc.provider_code)
        if exc.request_id is not None:
            exc.request_id = self(exc.request_id)
        return exc


# --------------------------------------------------------------------------------------------------
# Error policy and retries
# --------------------------------------------------------------------------------------------------

Outcome = Literal["ok", "transient", "credentials", "not_found", "permanent"]


@dataclass(frozen=True)
class ErrorPolicy:
    """How a provider signals throttling and failure, as data.

    Every 5xx is transient as well as the statuses in `transient`. `should_retry_header` names a header
    by which the provider overrides that (Stripe: `Stripe-Should-Retry: true|false`).
    """

    credentials_invalid: frozenset[int] = frozenset({401, 403})
    not_found: frozenset[int] = frozenset({404})
    transient: frozenset[int] = frozenset({408, 425, 429})
    retry_after_statuses: frozenset[int] = frozenset({429, 503})
    should_retry_header: str | None = None
    request_id_header: str | None = None

    def classify(self, status: int, headers: Mapping[str, str]) -> Outcome:
        if 200 <= status < 300:
            return "ok"
        if self.should_retry_header is not None:
            hint = headers.get(self.should_retry_header, "").strip().lower()
            if hint == "true" and status not in self.credentials_invalid:
                return "transient"
            if hint == "false":
                return self._refusal(status)
        if status in self.credentials_invalid:
            return "credentials"
        if status in self.transient or status >= 500:
            return "transient"
        return self._refusal(status)

    def _refusal(self, status: int) -> Outcome:
        if status in self.credentials_invalid:
            return "credentials"
        if status in self.not_found:
            return "not_found"
        return "permanent"


@dataclass(frozen=True)
class RetryPolicy:
    """Timeouts and backoff. A request's transient failures are retried until `max_retry_seconds`
    have passed since its first attempt; then `ProviderUnavailableError`."""

    max_retry_seconds: float = 300.0
    backoff_base_seconds: float = 0.5
    backoff_cap_seconds: float = 30.0
    connect_timeout_seconds: float = 3.05
    read_timeout_seconds: float = 30.0


def full_jitter_delay(attempt: int, base: float, cap: float, rnd: float) -> float:
    """Exponential backoff with full jitter: uniform in [0, min(cap, base * 2**(attempt-1))).

    `attempt` counts from 1; `rnd` is a uniform draw in [0, 1).
    """
    ceiling = min(cap, base * 2.0 ** min(max(attempt - 1, 0), 62))
    return rnd * ceiling


def parse_retry_after(value: str | None, now: float) -> float | None:
    """Seconds to wait from a `Retry-After` header: delta-seconds or an HTTP date (`now`: epoch seconds)."""
    if value is None or not value.strip():
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # an HTTP date is always GMT
        return None
    return max(0.0, when.timestamp() - now)


def _provider_error(body: Any) -> tuple[str | None, str | None]:
    """(code, message) from common error bodies: Stripe `{"error": {...}}`, Chargebee, Recurly, ..."""
    if not isinstance(body, dict):
        return None, None
    error = body.get("error")
    if isinstance(error, dict):
        code = error.get("code") or error.get("type")
        message = error.get("message")
    else:
        code = body.get("api_error_code") or body.get("error_code") or body.get("code")
        message = body.get("message") or (error if isinstance(error, str) else None)
    return (str(code) if code else None), (str(message) if message else None)


class HttpClient:
    """GET JSON from one provider, within its budget, retrying what is transient.

    One client per worker (a `requests.Session` is not shared between threads); the budget is what
    workers share. Credentials travel only in `headers`, which are never logged, and every message built
    from an answer goes through a `Redactor` of `secrets`.
    """

    def __init__(
        self,
        base_url: str,
        *,
        headers: Mapping[str, str] | None = None,
        secrets: Iterable[str] = (),
        error_policy: ErrorPolicy | None = None,
        retry: RetryPolicy | None = None,
        budget: RequestBudget | None = None,
        system: str | None = None,
        session: requests.Session | None = None,
        clock: Clock = time.monotonic,
        wall_clock: Clock = time.time,
        sleep: Sleep = time.sleep,
        random: Callable[[], float] = _random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("base_url must be an absolute http(s) URL")
        self._origin = (parts.scheme, parts.netloc)
        self._headers = dict(headers or {})
        self._redact = Redactor(secrets)
        self.error_policy = error_policy or ErrorPolicy()
        self.retry = retry or RetryPolicy()
        self.budget = budget
        self.system = system
        self._session = session or self._new_session(self.base_url)
        self._clock = clock
        self._wall_clock = wall_clock
        self._sleep = sleep
        self._random = random

    def __repr__(self) -> str:
        return f"HttpClient(base_url={self.base_url!r}, system={self.system!r})"

    @staticmethod
    def _new_session(base_url: str) -> requests.Session:
        session = requests.Session()
        adapter = HTTPAdapter(max_retries=0, pool_connections=2, pool_maxsize=4)
        session.mount("https://", adapter)
        session.mount("http://", adapter)
        # The environment's proxies (NO_PROXY honoured) and CA bundle, read once for the one origin this
        # client talks to. Left to requests (`trust_env`), they are read from os.environ again on every
        # request, and a ~/.netrc looked for: about a third of the CPU requests spent on a page, profiled.
        # (Credentials come only from the source: a .netrc is never used.)
        session.proxies = dict(requests.utils.get_environ_proxies(base_url))
        bundle = os.environ.get("REQUESTS_CA_BUNDLE") or os.environ.get("CURL_CA_BUNDLE")
        if bundle:
            session.verify = bundle
        session.trust_env = False
        return session

    def close(self) -> None:
        self._session.close()

    def url_for(self, path: str) -> str:
        """The absolute URL of `path`. An absolute URL (a provider's `next` link) must stay on the
        provider's origin, so that credentials are never sent elsewhere."""
        if path.startswith(("http://", "https://")):
            parts = urlsplit(path)
            if (parts.scheme, parts.netloc) != self._origin:
                raise ProviderResponseError("refusing to follow a link to another origin", system=self.system)
            return path
        if not path.startswith("/"):
            path = "/" + path
        return self.base_url + path

    def get_json(self, path: str, params: Params | None = None) -> Any:
        """GET `path` and return its decoded JSON body.

        Raises `CredentialsInvalidError` (401/403), `ProviderNotFoundError` (404), `ProviderRequestError`
        (other refusals), `ProviderUnavailableError` (transient errors beyond `max_retry_seconds`),
        `ProviderResponseError` (a 2xx that is not JSON).
        """
        return self.request(path, params).body

    def request(
        self,
        path: str,
        params: Params | None = None,
        *,
        method: str = "GET",
        json_body: Any = None,
        form: Mapping[str, str] | bytes | None = None,
        headers: Mapping[str, str] | None = None,
        decode: Decoder | None = None,
    ) -> Reply:
        """One call, retried as `get_json`: the decoded body (JSON unless `decode` says otherwise) and
        the answer's headers (for `Link` pagination)."""
        url = self.url_for(path)
        started = self._clock()
        attempt = 0
        while True:
            attempt += 1
            if self.budget is not None:
                self.budget.take(1, sleep=self._sleep)
            response, failure = self._send(
                url, path, params, attempt, method=method, json_body=json_body, form=form, headers=headers
            )
            if response is None:  # connection error or timeout
                self._wait_before_retry(path, attempt, started, failure, status=None, retry_after=None)
                continue
            outcome = self.error_policy.classify(response.status_code, response.headers)
            if outcome == "ok":
                return Reply(self._decode(response, decode), response.headers)  # case-insensitive
            if outcome != "transient":
                raise self._refusal(outcome, response)
            self._wait_before_retry(
                path,
                attempt,
                started,
                f"HTTP {response.status_code}",
                status=response.status_code,
                retry_after=self._retry_after(response),
            )

    def set_header(self, name: str, value: str, *, secret: bool = False) -> None:
        """Replace one request header (a refreshed OAuth2 token); `secret` values are redacted too."""
        self._headers[name] = value
        if secret:
            self._redact.add(value)

    def _send(
        self,
        url: str,
        path: str,
        params: Params | None,
        attempt: int,
        *,
        method: str,
        json_body: Any,
        form: Mapping[str, str] | bytes | None,
        headers: Mapping[str, str] | None,
    ) -> tuple[requests.Response | None, str]:
        """One request: the response, or None and why (connection errors and timeouts are transient)."""
        sent = self._clock()
        try:
            response = self._session.request(
                method,
                url,
                params=params,  # sequences become repeated keys (`expand[]=a&expand[]=b`)
                json=json_body,
                data=form,
                headers={**self._headers, **(headers or {})},
                timeout=(self.retry.connect_timeout_seconds, self.retry.read_timeout_seconds),
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            return None, self._redact(f"{type(exc).__name__}: {exc}")[:300]
        logger.debug(
            "%s %s params=%s -> %s (%.0f ms, attempt %d)",
            method,
            self._redact(path),
            self._redact(str(dict(params or {}))),
            response.status_code,
            (self._clock() - sent) * 1000,
            attempt,
        )
        return response, ""

    def _retry_after(self, response: requests.Response) -> float | None:
        if response.status_code not in self.error_policy.retry_after_statuses:
            return None
        return parse_retry_after(response.headers.get("Retry-After"), self._wall_clock())

    def _wait_before_retry(
        self,
        path: str,
        attempt: int,
        started: float,
        failure: str,
        *,
        status: int | None,
        retry_after: float | None,
    ) -> None:
        """Sleep before the next attempt: full-jitter backoff, or the provider's `Retry-After` when it
        asks for longer. Give up (`ProviderUnavailableError`) when that would pass `max_retry_seconds`
        since the first attempt; there is no point waiting for a retry that may not happen."""
        backoff = full_jitter_delay(
            attempt, self.retry.backoff_base_seconds, self.retry.backoff_cap_seconds, self._random()
        )
        delay = backoff if retry_after is None else max(retry_after, backoff)
        elapsed = self._clock() - started
        if elapsed + delay >= self.retry.max_retry_seconds:
            raise ProviderUnavailableError(
                f"provider unavailable after {attempt} attempts over {elapsed:.1f}s: {failure}",
                attempts=attempt,
                elapsed_seconds=elapsed,
                system=self.system,
                status=status,
            )
        logger.warning(
            "GET %s failed (%s); retry %d in %.2fs%s",
            self._redact(path),
            failure,
            attempt,
            delay,
            "" if retry_after is None else f" (Retry-After {retry_after:g}s)",
        )
        self._sleep(delay)

    def _decode(self, response: requests.Response, decode: Decoder | None) -> Any:
        try:
            if decode is not None:
                return decode(response.content)
            if response.encoding and response.encoding.lower().replace("-", "") != "utf8":
                return response.json()  # a charset other than JSON's own, declared: requests decodes it
            return json_codec.loads(response.content)
        except ValueError as exc:
            what = "JSON" if decode is None else "readable"
            raise ProviderResponseError(
                f"answer to {response.request.method} {self._redact(response.request.path_url or '')} is not {what}",
                system=self.system,
                status=response.status_code,
            ) from exc

    def _refusal(self, outcome: Outcome, response: requests.Response) -> Exception:
        try:
            body = response.json()
        except ValueError:
            body = None
        code, message = _provider_error(body)
        header = self.error_policy.request_id_header
        request_id = response.headers.get(header) if header else None
        # Everything here was written by the provider, which may echo the credentials back: redact it all.
        text = self._redact(message or response.reason or "")[:300]
        kwargs: dict[str, Any] = {
            "system": self.system,
            "status": response.status_code,
            "provider_code": self._redact(code)[:100] if code else None,
            "request_id": self._redact(request_id)[:200] if request_id else None,
        }
        if outcome == "credentials":
            return CredentialsInvalidError(f"the provider refused the credentials: {text}", **kwargs)
        if outcome == "not_found":
            return ProviderNotFoundError(f"not found: {text}", **kwargs)
        return ProviderRequestError(f"the provider refused the request: {text}", **kwargs)
