"""The console: static files (HTML, CSS, a little JavaScript) a browser loads from the API itself.

`asset(name)` gives one file's bytes and content type; names outside `static/` are unknown. Every answer
carries a strict Content-Security-Policy: scripts and styles from this origin only (no inline script),
requests only to this origin, no framing."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from importlib import resources

CONTENT_SECURITY_POLICY = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)
HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
}


@dataclass(frozen=True)
class Asset:
    body: str
    content_type: str


@lru_cache(maxsize=16)
def asset(name: str) -> Asset | None:
    """The static file `name` (a plain file name such as `app.js`), or None when there is no such file."""
    suffix = "." + name.rsplit(".", 1)[-1] if "." in name else ""
    if "/" in name or "\\" in name or name.startswith(".") or suffix not in _TYPES:
        return None
    file = resources.files(__package__).joinpath("static", name)
    if not file.is_file():
        return None
    return Asset(file.read_text(encoding="utf-8"), _TYPES[suffix])
