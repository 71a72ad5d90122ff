"""Browser tests of the console: Debian's chromium driven by Playwright, against the local stack.

The stack and accounts come from the end-to-end fixtures (one local stack per session). Playwright's own
browsers are never downloaded: the system's chromium is launched (`make` installs it where it is missing).
`--console-screenshots` also saves the main pages into docs/console/*.png.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from tests.e2e.conftest import Account, Client, account, api, new_account, stack  # noqa: F401 (fixtures)

CHROMIUM = "/usr/bin/chromium"
SCREENSHOTS = Path(__file__).resolve().parents[2] / "docs" / "console"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--console-screenshots", action="store_true", help="save the console's main pages into docs/console/"
    )


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"{CHROMIUM} is missing: install it with `apt-get install -y chromium` (or run `make test`)")
    # root in a container: chromium's sandbox cannot start there
    return {**browser_type_launch_args, "executable_path": CHROMIUM, "args": ["--no-sandbox"]}


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "viewport": {"width": 1280, "height": 900}}


@pytest.fixture
def console_url(local_stack: dict[str, Any]) -> str:
    return local_stack["api"].rstrip("/") + "/console/"


@pytest.fixture
def shot(request: pytest.FixtureRequest) -> Iterator[Any]:
    """`shot(page, "name")` saves docs/console/name.png when the run asks for screenshots, else does nothing."""
    enabled = bool(request.config.getoption("--console-screenshots"))

    def save(page: Page, name: str) -> None:
        if enabled:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SCREENSHOTS / f"{name}.png"), full_page=True)

    yield save


def sign_in(page: Page, console_url: str, key: str) -> None:
    page.goto(console_url)
    page.get_by_label("API key").fill(key)
    page.get_by_label("API key").press("Enter")
    expect(page.get_by_role("heading", name="Settings & Data > Sources")).to_be_visible()
