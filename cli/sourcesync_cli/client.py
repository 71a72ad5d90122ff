"""The HTTP API's client: where the API is, its key, one call, its errors as one line each."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import requests

#: The exit statuses (`sourcesync --help` lists them).
EXIT_OK = 0
EXIT_REFUSED = 1  # the API refused the request (4xx), or a confirmation did not match: nothing changed
EXIT_USAGE = 2  # a bad command line, or a setting the command needs is missing
EXIT_UNREACHABLE = 3  # the API (or the operator's AWS account) could not be reached, or answered a 5xx
EXIT_JOB_FAILED = 4  # the job the command followed ended failed or cancelled

ENDPOINTS_FILE = Path(os.environ.get("SOURCESYNC_ENDPOINTS", ".local/endpoints.json"))
TIMEOUT_SECONDS = 30.0


class CliError(Exception):
    """An error the CLI reports in one line on stderr, exiting with `exit_code`."""

    exit_code = EXIT_REFUSED


class UsageProblem(CliError):
    exit_code = EXIT_USAGE


class Unreachable(CliError):
    exit_code = EXIT_UNREACHABLE


class Refused(CliError):
    """A 4xx answer: its status, the API's error code and message."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}" if code else f"{status}: {message}")
        self.status, self.code, self.message = status, code, message


def local_endpoints() -> dict[str, Any] | None:
    """The local stack's endpoints (`make up` writes them), if it runs here."""
    if ENDPOINTS_FILE.is_file():
        loaded: dict[str, Any] = json.loads(ENDPOINTS_FILE.read_text())
        return loaded
    return None


def _error_text(payload: Any, fallback: str) -> tuple[str, str]:
    """The API's error envelope as (code, message with its details); API Gateway's own `{"message"}`."""
    if not isinstance(payload, dict):
        return "", fallback.strip()[:200] or "(no message)"
    error = payload.get("error")
    if not isinstance(error, dict):
        return "", str(payload.get("message") or fallback)[:200]
    message = str(error.get("message") or "")
    details = error.get("details")
    if isinstance(details, list) and details:
        where = "; ".join(f"{d.get('loc', '')}: {d.get('msg', '')}" for d in details[:5] if isinstance(d, dict))
        message += f" ({where}{'; …' if len(details) > 5 else ''})"
    if error.get("job_id"):
        message += f" (job {error['job_id']})"
    if error.get("edit_id"):
        message += f" (edit {error['edit_id']})"
    return str(error.get("code") or ""), message


class Api:
    """One API key's client: `call(method, path, body, params)` answers the decoded JSON (None for 204)."""

    def __init__(self, url: str | None, key: str | None, *, key_required: bool = True) -> None:
        local = local_endpoints()
        self.url = (url or os.environ.get("SOURCESYNC_API_URL") or (local or {}).get("api") or "").rstrip("/")
        self.key = key or os.environ.get("SOURCESYNC_API_KEY")
        if not self.url:
            raise UsageProblem("Set SOURCESYNC_API_URL or --api-url (or start the local stack with make up).")
        if not self.url.startswith(("http://", "https://")):
            raise UsageProblem(f"The API's address {self.url!r} is not an http:// or https:// URL.")
        if key_required and not self.key:
            raise UsageProblem("Set SOURCESYNC_API_KEY or --api-key (make one with: sourcesync account create NAME).")
        self.session = requests.Session()
        if self.key:
            self.session.headers["Authorization"] = f"Bearer {self.key}"

    def call(self, method: str, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        try:
            response = self.session.request(method, self.url + path, json=body, params=params, timeout=TIMEOUT_SECONDS)
        except requests.Timeout:
            raise Unreachable(f"The API at {self.url} did not answer within {TIMEOUT_SECONDS:.0f} s.") from None
        except requests.ConnectionError:
            raise Unreachable(
                f"Cannot reach the API at {self.url} (is it running? set --api-url or SOURCESYNC_API_URL)."
            ) from None
        except requests.RequestException as error:
            raise Unreachable(f"Cannot call the API at {self.url}: {type(error).__name__}.") from None
        try:
            payload = response.json() if response.content else None
        except ValueError:
            payload = None
        if response.status_code >= 500:
            code, message = _error_text(payload, response.text)
            status = f"{response.status_code} {code}" if code else str(response.status_code)
            raise Unreachable(f"The API at {self.url} failed: {status}: {message}")
        if response.status_code >= 400:
            code, message = _error_text(payload, response.text)
            if response.status_code == 401:
                message += " Check --api-key or SOURCESYNC_API_KEY."
            raise Refused(response.status_code, code, message)
        if response.content and payload is None:
            raise Unreachable(f"{self.url} answered something that is not JSON: is it SourceSync's API?")
        return payload

    def pages(self, path: str, params: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
        """Every entry of a list, page after page."""
        query: dict[str, Any] = {"per_page": 200, **(params or {})}
        while True:
            page = self.call("GET", path, params=query)
            yield from page["entries"]
            if not page.get("has_more") or not page.get("cursor"):
                return
            query["cursor"] = page["cursor"]
