"""A real Chromium (Debian's, /usr/bin/chromium) driven by pytest-playwright over a live server in
the test process. Playwright's own browser download does not work here: `.ci/run` installs the
`chromium` package when it is missing. Outside CI without it, these tests skip with the reason;
in CI (CI=true) they run, and fail if the browser is missing."""

import os
from pathlib import Path

import pytest
from django.test import override_settings

from calls.models import Business
from tests.recipes import make_member

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
# Without the background-networking flags Chromium keeps trying to reach Google's hosts, which
# this machine's closed network refuses; each test gets a fresh profile from Playwright.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Screenshots for people to look at (CI prints this path).
ARTIFACTS = Path(os.environ.get("BROWSER_ARTIFACTS", Path(__file__).parents[2] / "artifacts"))
PASSWORD = "correct horse battery staple"


def pytest_collection_modifyitems(config, items):
    # Last: once Playwright starts, its event loop stays in the main thread for the session.
    items.sort(key=lambda item: "browser" in item.keywords)
    if Path(CHROMIUM).exists() or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason=f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    for item in items:
        if "browser" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(scope="session", autouse=True)
def synchronous_orm_beside_playwright():
    """Playwright's sync API keeps an event loop running in the main thread from its start to the
    end of the session, and Django refuses ORM calls wherever a loop runs. The tests' ORM calls
    (and the live server's, in its own thread) are plain synchronous code: allow them."""
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"


@pytest.fixture(scope="session", autouse=True)
def plain_http_live_server():
    """The live server speaks plain HTTP, and its middleware reads these once, when it starts
    (before any test's `settings` fixture): no redirect to HTTPS, cookies over HTTP."""
    plain = override_settings(
        SECURE_SSL_REDIRECT=False,
        SESSION_COOKIE_SECURE=False,
        CSRF_COOKIE_SECURE=False,
        DASHBOARD_REFRESH_SECONDS=1,
    )
    plain.enable()
    yield
    plain.disable()


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args):
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": CHROMIUM_ARGS,
        "headless": True,
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args):
    return {**browser_context_args, "viewport": {"width": 1280, "height": 800}}


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


@pytest.fixture
def login(live_server, page):
    """Logs `page` in through the admin's login form as a new member holding each role given."""

    def log_in(*memberships, username="olga"):
        user = make_member(*memberships, username=username)
        user.set_password(PASSWORD)
        user.save()
        page.goto(f"{live_server.url}/admin/login/")
        page.fill("#id_username", username)
        page.fill("#id_password", PASSWORD)
        page.click("input[type=submit]")
        page.wait_for_selector("#user-tools")
        return user

    return log_in


@pytest.fixture
def acme(transactional_db):
    return Business.objects.create(name="Acme Plumbing", phone_number="+14155550100")


@pytest.fixture
def rival(transactional_db):
    return Business.objects.create(name="Rival Roofing", phone_number="+14155550200")
