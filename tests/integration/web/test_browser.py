"""A person in real headless Chromium (Debian's package, driven by Playwright): sign in, create an API key and
see it once, revoke it, find both changes in the audit trail with old and new values, sign out, and be sent back
to the sign-in page. Every page visited is saved under test-artifacts/."""

from __future__ import annotations

import re
import shutil
import uuid
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from lookout.settings import PROJECT_ROOT

pytestmark = pytest.mark.integration

ARTIFACTS = PROJECT_ROOT / "test-artifacts"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    chromium = shutil.which("chromium")
    assert chromium, "Debian's chromium package is missing: run scripts/bootstrap"
    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=chromium, args=["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
        )
        yield launched
        launched.close()


def shot(page: Page, name: str) -> None:
    ARTIFACTS.mkdir(exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


def test_sign_in_create_and_revoke_a_key_read_the_audit_trail_sign_out(browser, web_url, admin):
    context = browser.new_context(viewport={"width": 1360, "height": 860})
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # the revoke button asks first

    page.goto(f"{web_url}/keys")
    expect(page).to_have_url(re.compile(r"/login\?next=/keys"))
    shot(page, "01-login")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill("not the password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("Wrong email or password")
    shot(page, "02-login-refused")
    page.get_by_label("Email").fill(admin.email)
    page.get_by_label("Password").fill(admin.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(f"{web_url}/keys")
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()

    name = f"browser-{uuid.uuid4().hex[:6]}"
    page.get_by_label("Name").fill(name)
    page.get_by_label("Rate limit").fill("250")
    page.get_by_label("query").check()
    page.get_by_role("button", name="Create key").click()
    secret_box = page.get_by_label("The new secret")
    expect(secret_box).to_have_value(re.compile(r"^lk_.{40,}$"))
    secret = secret_box.input_value()
    expect(page.get_by_text("This is the only time it is shown.")).to_be_visible()
    shot(page, "03-key-created")

    page.goto(f"{web_url}/keys")
    row = page.locator("tr", has_text=name)
    expect(row).to_contain_text(secret[:10])
    assert secret not in page.content()  # shown once: never again
    row.get_by_role("button", name="Revoke").click()
    expect(page.get_by_role("status")).to_contain_text(f"Revoked the key “{name}”")
    expect(page.locator("tr", has_text=name)).to_have_count(0)
    shot(page, "04-key-revoked")

    page.get_by_role("link", name="Audit trail").click()
    page.get_by_label("Resource").select_option("api_key")
    page.get_by_role("button", name="Filter").click()
    created = page.locator("table.audit > tbody > tr", has_text="api_key.create").filter(has_text=name)
    expect(created).to_have_count(1)
    expect(created.locator("tr.changed", has_text="name").locator("td.new")).to_have_text(name)
    expect(created.locator("tr.changed", has_text="rate_limit_per_s").locator("td.new")).to_have_text("250")
    key_id = created.locator("td code").first.inner_text()
    revoked = page.locator("table.audit > tbody > tr", has_text="api_key.revoke").filter(
        has=page.locator("code", has_text=re.compile(rf"^{key_id}$"))
    )
    expect(revoked.locator("tr.changed", has_text="revoked").locator("td.old")).to_have_text("false")
    expect(revoked.locator("tr.changed", has_text="revoked").locator("td.new")).to_have_text("true")
    expect(page.get_by_label("Time range")).to_have_value("now-24h")
    shot(page, "05-audit-trail")

    page.get_by_label("Time range").select_option("now-1h")
    expect(page).to_have_url(re.compile(r"from=now-1h"))
    expect(page.get_by_role("heading", name=re.compile("Last hour"))).to_be_visible()

    page.get_by_role("link", name="Personal tokens").click()
    page.get_by_label("Name").fill("nightly-report")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_label("The new secret")).to_have_value(re.compile(r"^lkp_"))
    shot(page, "06-tokens")
    page.get_by_role("link", name="Accounts").click()
    expect(page.locator("td", has_text=admin.email)).to_be_visible()
    shot(page, "07-accounts")
    page.goto(f"{web_url}/no-such-page")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    shot(page, "08-not-found")

    page.goto(f"{web_url}/keys")
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(f"{web_url}/login")
    expect(page.get_by_role("status")).to_contain_text("You are signed out.")
    page.goto(f"{web_url}/audit")
    expect(page).to_have_url(re.compile(r"/login\?next=/audit"))
    shot(page, "09-signed-out")
    context.close()


def test_the_pages_in_the_dark_theme_and_for_a_viewer(browser, web_url, viewer):
    context = browser.new_context(viewport={"width": 1360, "height": 860}, color_scheme="dark")
    page = context.new_page()
    page.goto(f"{web_url}/login?next=/keys")  # signing in lands on the overview otherwise
    page.get_by_label("Email").fill(viewer.email)
    page.get_by_label("Password").fill(viewer.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("heading", name="API keys", exact=True)).to_be_visible()
    expect(page.get_by_role("button", name="Create key")).to_have_count(0)  # viewers read, admins change
    expect(page.get_by_role("link", name="Accounts")).to_have_count(0)
    shot(page, "10-keys-viewer-dark")
    page.goto(f"{web_url}/admin/accounts")
    expect(page.get_by_role("heading", name="No access")).to_be_visible()
    shot(page, "11-forbidden-dark")
    context.close()
