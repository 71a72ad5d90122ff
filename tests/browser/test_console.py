"""The help article's procedures, step by step in a real browser, on the local stack."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from devstack.stripe_seed import seeded_emulator
from tests.browser.conftest import sign_in
from tests.e2e.conftest import Account, Client
from tests.e2e.faults import FaultProxy

pytestmark = [pytest.mark.e2e, pytest.mark.browser]

STRIPE_KEY = {"api_key": "sk_test_console_browser"}


@pytest.fixture(scope="module")
def stripe() -> Iterator[str]:
    with seeded_emulator(customers=30, seed=5) as url:
        yield url


@pytest.fixture
def proxy(stripe: str) -> Iterator[FaultProxy]:
    with FaultProxy(stripe) as running:
        yield running


def stripe_source(api: Client, api_base: str, name: str = "Stripe", **options: Any) -> dict[str, Any]:
    body = {"name": name, "system": "stripe", "credentials": STRIPE_KEY, "options": {"api_base": api_base, **options}}
    created = api.ok("POST", "/v1/data_sources", body, status=201)
    assert api.wait_for_job(created["job"]["id"])["status"] == "succeeded"
    source: dict[str, Any] = api.ok("GET", f"/v1/data_sources/{created['data_source']['uuid']}")
    return source


def open_settings(page: Page, name: str) -> None:
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name=name, exact=True))
    row.get_by_role("button", name="Settings").click()
    expect(page.get_by_role("heading", name=f"{name} — Settings")).to_be_visible()


RECORD_BAR = """() => {
  window.overallBar = [];
  new MutationObserver(() => {
    const bar = document.querySelector('[role=progressbar][aria-label=Overall]');
    const value = bar && Number(bar.getAttribute('aria-valuenow'));
    if (bar && window.overallBar[window.overallBar.length - 1] !== value) window.overallBar.push(value);
  }).observe(document.body, {subtree: true, childList: true, attributes: true});
}"""


def test_a_wrong_key_gets_a_clear_sign_in_error_and_stores_nothing(
    page: Page, console_url: str, shot: Callable[[Page, str], None]
) -> None:
    page.goto(console_url)
    expect(page.get_by_role("navigation", name="Main")).to_be_hidden()  # nothing but the sign-in before a key
    shot(page, "sign-in")
    key = page.get_by_label("API key")
    expect(key).to_have_attribute("type", "password")
    key.fill("ssk_not_a_real_key")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("this API key was not accepted")
    expect(page.get_by_role("heading", name="Settings & Data > Sources")).to_be_hidden()
    assert page.evaluate("sessionStorage.length") == 0
    assert page.evaluate("localStorage.length") == 0
    assert "ssk_not_a_real_key" not in page.content()


def test_the_console_is_public_with_a_strict_csp(stack: dict[str, Any]) -> None:
    anonymous = Client(stack["api"], None)
    for path in ("/console/", "/console", "/console/app.js", "/console/style.css"):
        answer = anonymous.get(path)
        assert answer.status_code == 200, (path, answer.status_code, answer.text[:200])
        csp = answer.headers["Content-Security-Policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "default-src 'none'" in csp
    assert anonymous.get("/console/index.html").headers["Content-Type"].startswith("text/html")
    assert anonymous.get("/console/nothing.js").status_code == 404
    assert anonymous.get("/console/..%2Fapp.py").status_code == 404
    assert anonymous.get("/v1/data_sources").status_code == 401  # the API itself still needs a key


def test_delete_a_source_as_the_article_says(
    page: Page, console_url: str, account: Account, api: Client, stripe: str, shot: Callable[[Page, str], None]
) -> None:
    keep = stripe_source(api, stripe, name="Stripe (EU)")
    doomed = stripe_source(api, stripe, name="Stripe (US)")
    sign_in(page, console_url, account.api_key)
    assert page.evaluate("Object.keys(sessionStorage)") == ["sourcesync.apiKey"]
    assert account.api_key not in page.content()
    rows = page.get_by_role("table", name="Sources").get_by_role("row")
    expect(rows).to_have_count(3)  # header and two sources
    us = rows.filter(has=page.get_by_role("rowheader", name="Stripe (US)", exact=True))
    expect(us).to_contain_text("stripe")
    expect(us).to_contain_text(f"{doomed['counts']['customers']} customers")
    shot(page, "sources")

    open_settings(page, "Stripe (US)")
    page.get_by_role("button", name="Delete This Source").click()
    impact = page.get_by_role("list", name="Impact")
    expect(impact).to_contain_text(f"{doomed['counts']['customers']} customers")
    expect(impact).to_contain_text(f"{doomed['counts']['invoices']} invoices")
    delete = page.get_by_role("button", name="Delete", exact=True)
    expect(delete).to_be_disabled()
    confirm = page.get_by_label("Type the source's name")
    confirm.fill("Stripe (EU)")  # another source's name does not unlock it
    expect(delete).to_be_disabled()
    confirm.fill("Stripe (US)")
    expect(delete).to_be_enabled()
    shot(page, "delete-confirmation")
    delete.click()

    expect(page.get_by_role("heading", name="Settings & Data > Sources")).to_be_visible(timeout=120_000)
    expect(page.get_by_role("rowheader", name="Stripe (EU)", exact=True)).to_be_visible()
    expect(page.get_by_role("rowheader", name="Stripe (US)", exact=True)).to_have_count(0)
    assert api.get(f"/v1/data_sources/{doomed['uuid']}").status_code == 404
    assert api.ok("GET", f"/v1/data_sources/{keep['uuid']}")["counts"] == keep["counts"]


def test_resync_a_source_with_the_bar_reaching_100(
    page: Page,
    console_url: str,
    account: Account,
    api: Client,
    proxy: FaultProxy,
    shot: Callable[[Page, str], None],
) -> None:
    source = stripe_source(api, proxy.url)
    sign_in(page, console_url, account.api_key)
    open_settings(page, "Stripe")
    proxy.set(delay=0.6)  # a slower provider, so the bar is seen on its way
    page.get_by_role("button", name="Re-Sync Data").click()
    preview = api.ok("POST", f"/v1/data_sources/{source['uuid']}/resync?dry_run=true")
    assert preview["overlays_removed"] == []  # Stripe keeps every kind of manual data
    expect(page.get_by_role("region", name="Re-sync preview")).to_contain_text("removes no manual data")
    page.evaluate(RECORD_BAR)  # every value the overall bar takes, recorded in the page as it is drawn
    page.get_by_role("button", name="Start re-sync").click()

    status = page.locator(".job-status")
    expect(page.get_by_role("progressbar", name="Overall")).to_be_visible()
    expect(page.get_by_role("progressbar", name="customers")).to_be_visible()
    shot(page, "resync-in-progress")
    expect(status).to_contain_text("resync_source: succeeded", timeout=120_000)
    seen = page.evaluate("window.overallBar")
    assert seen[-1] == 100, seen
    assert seen[0] < 100 and len(seen) >= 2, seen  # it moved
    assert seen == sorted(seen), seen  # and never went back
    job = api.ok("GET", f"/v1/data_sources/{source['uuid']}/jobs")["entries"][0]
    assert job["kind"] == "resync_source" and job["status"] == "succeeded"
    expect(page.get_by_role("table", name="Jobs")).to_contain_text("succeeded")


def test_a_failed_resync_is_shown_failed_and_the_data_stays(
    page: Page, console_url: str, account: Account, api: Client, proxy: FaultProxy
) -> None:
    source = stripe_source(api, proxy.url, max_retry_seconds=1)
    before = api.ok("GET", "/v1/customers", params={"data_source_uuid": source["uuid"], "per_page": 200})["entries"]
    sign_in(page, console_url, account.api_key)
    open_settings(page, "Stripe")
    proxy.set(fail_after=0, status=503)
    page.get_by_role("button", name="Re-Sync Data").click()
    page.get_by_role("button", name="Start re-sync").click()
    status = page.locator(".job-status")
    expect(status).to_contain_text("failed", timeout=120_000)
    expect(status).to_contain_text("The previous data is unchanged")
    job = api.ok("GET", f"/v1/data_sources/{source['uuid']}/jobs")["entries"][0]
    assert job["status"] == "failed"
    expect(status).to_contain_text(job["error"]["message"])
    proxy.set()
    after = api.ok("GET", "/v1/customers", params={"data_source_uuid": source["uuid"], "per_page": 200})["entries"]
    assert after == before
    assert api.ok("GET", f"/v1/data_sources/{source['uuid']}")["counts"] == source["counts"]


def test_a_customer_page_and_its_resync(
    page: Page,
    console_url: str,
    account: Account,
    api: Client,
    stripe: str,
    shot: Callable[[Page, str], None],
) -> None:
    source = stripe_source(api, stripe)
    customers = api.ok("GET", "/v1/customers", params={"data_source_uuid": source["uuid"], "per_page": 200})
    paying = next(c for c in customers["entries"] if c["mrr"] > 0)
    detail = api.ok("GET", f"/v1/customers/{paying['uuid']}")
    subscription = detail["subscriptions"][0]
    api.ok(
        "POST",
        f"/v1/subscriptions/{subscription['uuid']}/mrr_edits",
        {"mrr": 12345, "from": "2020-01-01", "to": "2020-01-31"},
        status=201,
    )
    sign_in(page, console_url, account.api_key)
    open_settings(page, "Stripe")
    page.get_by_role("list", name="Customers").get_by_role("link", name=paying["name"], exact=True).click()
    expect(page.get_by_role("heading", name=paying["name"], exact=True)).to_be_visible()
    expect(page.locator("#mrr")).to_have_text(
        page.evaluate(
            "([c, cur]) => (c / 100).toLocaleString(undefined, {style: 'currency', currency: cur.toUpperCase()})",
            [paying["mrr"], paying["currency"]],
        )
    )
    records = page.get_by_role("table", name="Records per source")
    expect(records).to_contain_text("Stripe (stripe)")
    expect(records).to_contain_text(paying["external_id"])
    expect(page.get_by_role("list", name="Manual data")).to_contain_text("MRR edit")
    page.get_by_role("button", name="Re-sync customer").click()
    status = page.locator(".job-status")
    expect(status).to_contain_text("resync_customer: succeeded", timeout=120_000)
    expect(page.get_by_role("progressbar", name="Overall")).to_have_attribute("aria-valuenow", "100")
    shot(page, "customer")
    job = api.ok("GET", f"/v1/data_sources/{source['uuid']}/jobs")["entries"][0]
    assert job["kind"] == "resync_customer" and job["customer_uuid"] == paying["uuid"]
    assert job["status"] == "succeeded"
    assert api.ok("GET", f"/v1/customers/{paying['uuid']}")["overlays"]["mrr_edits"]  # Stripe keeps the edit


def test_add_sources_a_custom_one_says_what_to_do_instead_and_the_schedule_changes(
    page: Page, console_url: str, account: Account, api: Client, stripe: str
) -> None:
    sign_in(page, console_url, account.api_key)
    page.get_by_role("link", name="Add a source").first.click()
    page.get_by_label("Name", exact=True).fill("Pushed")
    page.get_by_label("System", exact=True).select_option("custom")
    expect(page.get_by_role("heading", name="Custom sources: the Import API")).to_be_visible()
    expect(page.get_by_label("Stripe secret key")).to_be_hidden()
    page.get_by_role("button", name="Create source").click()
    expect(page.get_by_role("heading", name="Pushed — Settings")).to_be_visible()
    expect(page.get_by_text("This source cannot be re-synced")).to_be_visible()
    expect(
        page.get_by_text("delete this source and import its data again, or ask support to reprocess it")
    ).to_be_visible()
    expect(page.get_by_role("button", name="Re-Sync Data")).to_have_count(0)

    page.get_by_role("link", name="Add a source").first.click()
    page.get_by_label("Name", exact=True).fill("Billing")
    page.get_by_label("System", exact=True).select_option("stripe")
    page.get_by_label("Stripe secret key").fill(STRIPE_KEY["api_key"])
    page.get_by_label("Options: API base").fill(stripe)
    page.get_by_label("Schedule (optional)").fill("rate(1 day)")
    page.get_by_role("button", name="Create source").click()
    expect(page.get_by_role("heading", name="Billing — Settings")).to_be_visible()
    assert STRIPE_KEY["api_key"] not in page.content()  # the credential is never rendered back
    billing = next(s for s in api.ok("GET", "/v1/data_sources")["entries"] if s["name"] == "Billing")
    assert billing["schedule"] == "rate(1 day)"
    import_job = api.ok("GET", f"/v1/data_sources/{billing['uuid']}/jobs")["entries"][0]
    assert api.wait_for_job(import_job["id"])["status"] == "succeeded"

    # keyboard only: back to the list, the Settings icon by focus and Enter
    page.get_by_role("link", name="Settings & Data > Sources").press("Enter")
    row = page.get_by_role("row").filter(has=page.get_by_role("rowheader", name="Billing", exact=True))
    row.get_by_role("button", name="Settings").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Billing — Settings")).to_be_visible()

    schedule = page.get_by_role("textbox", name="Schedule", exact=True)
    expect(schedule).to_have_value("rate(1 day)")
    schedule.fill("every day")
    schedule.press("Enter")
    refused = api.patch(f"/v1/data_sources/{billing['uuid']}", {"schedule": "every day"})
    assert refused.status_code == 400
    expect(page.get_by_text("Error: " + refused.json()["error"]["message"])).to_be_visible()
    schedule.fill("rate(2 hours)")
    page.get_by_role("button", name="Save schedule").click()
    expect(page.get_by_text("Schedule saved: rate(2 hours)")).to_be_visible()
    assert api.ok("GET", f"/v1/data_sources/{billing['uuid']}")["schedule"] == "rate(2 hours)"
    page.get_by_role("button", name="Turn off").click()
    expect(page.get_by_text("Schedule turned off.")).to_be_visible()
    assert api.ok("GET", f"/v1/data_sources/{billing['uuid']}")["schedule"] is None
