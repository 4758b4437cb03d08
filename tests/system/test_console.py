"""The web console in a real browser (headless Debian Chromium through Selenium) against all
services running as processes: a complaint registered at the desk screen shows up on the
supervisor's live board without a reload, is resolved on the agency screen, and its whole
history reads on the auditor screen. Screenshots of every screen are kept as artifacts."""

from __future__ import annotations

import json
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest
import requests

from tests.helpers import actor_headers, stored_event_types, wait_until
from tests.system.test_walking_skeleton import eligible

pytestmark = pytest.mark.system

CHROMIUM = os.environ.get("SEDULUR_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("SEDULUR_CHROMEDRIVER", "/usr/bin/chromedriver")
ARTIFACTS = Path(os.environ.get("SEDULUR_TEST_ARTIFACTS")
                 or Path(__file__).resolve().parents[1] / "artifacts") / "console"

# People of the session's DTKS slice no other system test registers complaints for (a
# second complaint of the same citizen and category would be a probable duplicate there).
OWN_PEOPLE = 400

OPERATOR = actor_headers("op-konsol", "operator", desk="332501")
SUPERVISOR = actor_headers("spv-konsol", "supervisor", area="332501")
AGENCY = actor_headers("petugas-dinkes-konsol", "agency", agency="DINKES")
AUDITOR = actor_headers("aud-konsol", "auditor")


def login_fragment(headers: dict[str, str]) -> str:
    """The one place credentials reach the page, from tests.helpers.actor_headers: a signed
    token goes in as the login link the demo prints (#token=); until tokens land, the
    development identity the same headers carry (#dev=)."""
    auth = headers.get("Authorization", "")
    if auth.startswith("Bearer "):
        return "#token=" + quote(auth.removeprefix("Bearer "), safe="")
    dev = {name.lower(): headers[f"X-Sedulur-{name}"]
           for name in ("User", "Role", "Desk", "Area", "Agency")
           if headers.get(f"X-Sedulur-{name}")}
    return "#dev=" + quote(json.dumps(dev), safe="")


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not (shutil.which(CHROMIUM) and shutil.which(CHROMEDRIVER)):
        pytest.fail(f"{CHROMIUM} and {CHROMEDRIVER} are needed (apt-get install chromium "
                    "chromium-driver; scripts/install does it)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    for arg in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu",
                "--window-size=1280,1100", "--lang=id-ID"):
        options.add_argument(arg)
    driver = webdriver.Chrome(service=Service(CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    try:
        yield driver
    finally:
        driver.quit()


class Console:
    """The browser on the console, with the waits and lookups the test repeats."""

    def __init__(self, driver: object, url: str) -> None:
        self.driver = driver
        self.url = url

    def login(self, headers: dict[str, str]) -> None:
        self.driver.get(self.url + login_fragment(headers))

    def wait(self, predicate, timeout: float = 30, message: str = "") -> object:
        from selenium.webdriver.support.ui import WebDriverWait

        return WebDriverWait(self.driver, timeout, poll_frequency=0.2).until(
            lambda d: predicate(), message=message)

    def find(self, css: str) -> object:
        from selenium.webdriver.common.by import By

        return self.driver.find_element(By.CSS_SELECTOR, css)

    def all(self, css: str) -> list:
        from selenium.webdriver.common.by import By

        return self.driver.find_elements(By.CSS_SELECTOR, css)

    def text(self, css: str) -> str:
        found = self.all(css)
        return found[0].text if found else ""

    def screenshot(self, name: str, top: bool = True, full: bool = False) -> Path:
        if top:
            self.driver.execute_script("window.scrollTo(0, 0)")
        path = ARTIFACTS / f"{name}.png"
        size = self.driver.get_window_size()
        if full:  # the whole page: make the window as tall as the document
            height = self.driver.execute_script("return document.documentElement.scrollHeight")
            self.driver.set_window_size(size["width"], min(int(height) + 140, 6000))
        self.driver.save_screenshot(str(path))
        if full:
            self.driver.set_window_size(size["width"], size["height"])
        print(f"screenshot: {path}")
        return path

    def browser_errors(self) -> list[str]:
        """Script errors and failed requests, except a 403: the page asks, the policy
        answers, and the page shows a note instead (Chromium still logs the status)."""
        return [e["message"] for e in self.driver.get_log("browser")
                if e["level"] == "SEVERE" and "status of 403" not in e["message"]]


@pytest.mark.browser
@pytest.mark.slow
def test_complaint_from_desk_to_supervisor_board_agency_and_auditor(stack, dtks_people,
                                                                    event_app, browser):
    settings = stack.settings
    from selenium.webdriver.common.keys import Keys

    console = Console(browser, f"{settings.http_url('intake')}/console/")
    person = eligible(dtks_people[OWN_PEOPLE:], "PBI_JK", 0)

    browser.get(console.url)
    console.wait(lambda: console.all("#login-token-form"), message="login screen")
    console.screenshot("0-login")

    # -- supervisor: the live board is open in one tab --------------------------------------
    console.login(SUPERVISOR)
    console.wait(lambda: console.text("#live-state") == "langsung", message="live board open")
    browser.execute_script("window.__sameDocument = true")
    board_tab = browser.current_window_handle
    before = console.all('#operator-rows tr[data-operator="op-konsol"] .complaints-today')
    assert before == [] or before[0].text == "0"

    # -- operator: a second tab at the desk ---------------------------------------------------
    browser.switch_to.new_window("tab")
    console.login(OPERATOR)
    console.wait(lambda: console.all("#category option[value=kis]"), message="categories")
    nik = console.find("#nik")
    nik.send_keys(person["NIK"][:10])
    assert "16 digit" in console.text("#nik-hint")
    nik.send_keys(person["NIK"][10:])
    # The hint shows what the access policy lets an operator read of DTKS, no more.
    if may_read(settings, "dtks_sync", f"/dtks/persons/{person['NIK']}", OPERATOR):
        console.wait(lambda: "Terdaftar di DTKS" in console.text("#dtks-hint"),
                     message="DTKS hint")
        assert console.find("#name").get_attribute("value") == person["NAMA"]
    else:
        console.wait(lambda: "verifikator Dinsos" in console.text("#dtks-hint"),
                     message="no DTKS data for the operator")
        assert person["NAMA"] not in console.text("#register-form")
        console.find("#name").send_keys(person["NAMA"])
    console.find("#kk").send_keys(person["NIK"][:6] + "3102")
    assert "16 digit" in console.text("#kk-hint")
    console.find("#kk").send_keys(Keys.BACKSPACE * 10)
    assert console.text("#kk-hint") == ""
    console.find("#category option[value=kis]").click()
    console.find("#description").send_keys("Kartu KIS tidak aktif saat berobat ke puskesmas")
    console.screenshot("1-desk-form")
    console.find("#register").click()
    console.wait(lambda: console.text("#registration-number"), message="registration number")
    number = console.text("#registration-number")
    assert number.startswith(settings.default_kabupaten + "-")
    console.wait(lambda: number in console.text("#desk-complaints"), timeout=30,
                 message="complaint in the desk's list of today")
    console.screenshot("1-desk")
    browser.set_window_size(820, 1180)  # a tablet held upright
    console.screenshot("1-desk-tablet")
    browser.set_window_size(1280, 1100)

    # -- supervisor: the registration arrives on the open board, no reload ----------------------
    browser.switch_to.window(board_tab)
    console.wait(lambda: console.text(
        '#operator-rows tr[data-operator="op-konsol"] .complaints-today') == "1", timeout=30,
        message="operator's registration on the live board")
    assert browser.execute_script("return window.__sameDocument") is True
    assert "mendaftarkan aduan" in console.text("#live-feed")
    if may_read(settings, "sla", "/board", SUPERVISOR):
        console.wait(lambda: console.all('#sla-rows tr[data-key^="332501"]'), timeout=30,
                     message="the kecamatan's open clocks on the SLA board")
    else:
        console.wait(lambda: "tidak tersedia" in console.text("#sla-state"),
                     message="no SLA board for a role the policy keeps from it")
        assert not console.find("#sla-board").is_displayed()
    console.screenshot("2-supervisor")

    # -- agency: the referral in DINKES's queue, resolved on screen ---------------------------
    cid = _complaint_id(settings.pg_dsn, number)
    wait_until(lambda: stored_event_types(event_app, cid)[-1:] == ["ReferredToOPD"],
               timeout=60, message="ReferredToOPD appended")
    console.login(AGENCY)
    selector = f'#queue-rows tr[data-complaint="{cid}"]'
    console.wait(lambda: console.all(selector), timeout=30, message="referral in the queue")
    assert number in console.text(selector)
    console.screenshot("3-agency-queue")
    console.find(f'{selector} button[data-action="resolve"]').click()
    console.wait(lambda: console.find("#action-dialog").is_displayed(), message="dialog")
    console.find("#action-text").send_keys("KIS diaktifkan kembali oleh Dinkes")
    console.screenshot("3-agency-resolve")
    console.find("#action-submit").click()
    console.wait(lambda: "berhasil" in console.text("#action-result"), message="resolved")
    assert stored_event_types(event_app, cid) == [
        "Registered", "Verified", "ReferredToOPD", "Resolved"]
    console.wait(lambda: not console.all(selector), message="resolved referral leaves the queue")
    console.find("#show-all").click()
    console.wait(lambda: "KIS diaktifkan kembali" in console.text(selector), message="outcome")
    console.screenshot("3-agency-done")

    # -- auditor: the whole history with actors and reasons; a point in time ------------------
    console.login(AUDITOR)
    console.wait(lambda: console.all("#audit-ref"), message="auditor screen")
    console.find("#audit-ref").send_keys(number)
    console.find("#audit-form button[type=submit]").click()
    console.wait(lambda: len(console.all("#timeline li")) == 4, message="four events")
    events = [li.get_attribute("data-event") for li in console.all("#timeline li")]
    assert events == ["Registered", "Verified", "ReferredToOPD", "Resolved"]
    timeline = console.text("#timeline")
    for expected in ("op-konsol", "system:verification", "system:routing",
                     "petugas-dinkes-konsol", "kis.eligible", "KIS diaktifkan kembali oleh Dinkes"):
        assert expected in timeline
    console.all("#timeline li")[0].find_element("css selector", "button").click()
    console.wait(lambda: "versi 1" in console.text("#point-state"), message="state at v1")
    assert "registered" in console.text("#point-state")
    console.screenshot("4-auditor", full=True)
    errors = console.browser_errors()
    assert errors == [], "\n".join(errors)


@pytest.mark.browser
@pytest.mark.slow
def test_the_live_board_highlights_idle_operators_and_deadlines_at_risk(stack, dtks_people,
                                                                        browser):
    """An intake of its own with a one-second idle limit and a wide at-risk window, so an
    operator who registered a complaint turns idle and has deadlines at risk at once."""
    from services.intake.service import IntakeService
    from tests.helpers import running_service, valid_complaint

    operator = actor_headers("op-konsol-2", "operator", desk="332502")
    supervisor = actor_headers("spv-konsol-2", "supervisor", area="332502")
    person = eligible(dtks_people[OWN_PEOPLE:], "PBI_JK", 1)
    with running_service(IntakeService, stack.settings,
                         SEDULUR_INTAKE_IDLE_AFTER_SECONDS=1,
                         SEDULUR_INTAKE_AT_RISK_MINUTES=100_000) as intake:
        assert requests.post(f"{intake}/operators/session", json={"desk": "332502"},
                             headers=operator, timeout=10).status_code == 201
        body = valid_complaint(nik=person["NIK"], desk="332502",
                               citizen={"nik": person["NIK"], "name": person["NAMA"]})
        assert requests.post(f"{intake}/complaints", json=body, headers=operator,
                             timeout=30).status_code == 201
        console = Console(browser, f"{intake}/console/")
        console.login(supervisor)
        row = '#operator-rows tr[data-operator="op-konsol-2"]'
        console.wait(lambda: "row-warn" in (console.all(row)[0].get_attribute("class")
                                            if console.all(row) else ""),
                     timeout=30, message="idle operator highlighted")
        # The sla service records the complaint's deadlines from the relayed event.
        console.wait(lambda: "row-danger" in console.find(row).get_attribute("class"),
                     timeout=60, message="deadline at risk highlighted")
        assert "menganggur" in console.text(row) and "tenggat berisiko" in console.text(row)
        assert "menganggur" in console.text("#live-summary")
        path = ARTIFACTS / "2-supervisor-flags.png"
        console.find("#screen-supervisor .card").screenshot(str(path))
        print(f"screenshot: {path}")
        console.login(AUDITOR)  # leaves the board: its stream ends before intake stops
        # This intake's origin is not the console origin the sla service allows: its board
        # was refused (CORS), as it should be; drop those log lines.
        browser.get_log("browser")


@pytest.mark.browser
@pytest.mark.slow
def test_the_demos_login_links_open_each_roles_screen(stack, browser):
    from services.console import login_links

    console = Console(browser, f"{stack.settings.http_url('intake')}/console/")
    screens = {"operator desk": "desk", "supervisor": "supervisor",
               "agency DINKES": "agency", "auditor": "auditor"}
    for label, url in login_links(stack.settings, "332501"):
        browser.get(url)
        console.wait(lambda name=screens[label]: console.all(f"#screen-{name}"),
                     message=f"{label} screen")
        assert "#token=" not in browser.current_url and "#dev=" not in browser.current_url
        assert len(console.all("#nav a")) == 1  # a role sees its own screen only
    assert console.browser_errors() == []


@pytest.mark.browser
@pytest.mark.slow
def test_the_pages_nik_and_kk_checks_agree_with_the_shared_kernel(stack, browser):
    """The desk screen's live checks (js/identity.js) mirror shared/identity.py."""
    from shared.errors import SedulurError
    from shared.identity import KK, NIK

    cases = ["3325014507900001", "3325010507900001", "33.2501.450790.0001", "3325014507900000",
             "9925014507900001", "3300014507900001", "3325013202900001", "3325017202900001",
             "3325016902240001", "332501450790001", "33250145079O0001", "3325013112990001",
             "3325010000000001", ""]
    console = Console(browser, f"{stack.settings.http_url('intake')}/console/")
    browser.get(console.url)
    got = browser.execute_async_script(
        "const [cases, done] = arguments;"
        "import('./js/identity.js').then((m) => done(cases.map((c) =>"
        "  [m.checkNik(c).ok, m.checkKk(c).ok])));", cases)

    def ok(parse, raw):
        try:
            parse(raw)
            return True
        except SedulurError:
            return False

    assert got == [[ok(NIK.parse, c), ok(KK.parse, c)] for c in cases]


def test_console_files_config_and_no_way_out_of_the_static_folder(stack):
    intake = stack.settings.http_url("intake")
    page = requests.get(f"{intake}/console/", timeout=10)
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert requests.get(f"{intake}/console", timeout=10).url.endswith("/console/")
    module = requests.get(f"{intake}/console/js/api.js", timeout=10)
    assert module.headers["Content-Type"].startswith("text/javascript")
    config = requests.get(f"{intake}/console/config.json", timeout=10).json()
    assert config["services"]["routing"]["port"] == stack.settings.http_port("routing")
    assert config["services"]["intake"] == {"url": None, "port": None}  # the page's origin
    for path in ("../__init__.py", "..%2f__init__.py", "js/../../__init__.py",
                 "%2e%2e/__init__.py", "nothing.js"):
        # 404 from the console, or 405 when the client already collapsed the dots
        assert requests.get(f"{intake}/console/{path}", timeout=10).status_code in (404, 405)
    from services.console import asset

    assert asset("../__init__.py") is None and asset("js/../../__init__.py") is None
    assert asset("js/../index.html") is not None


def test_cors_answers_the_console_origin_only(stack):
    settings = stack.settings
    console_origin = settings.http_url("intake")
    routing = f"{settings.http_url('routing')}/agencies/DINKES/queue"
    ask = {"Access-Control-Request-Method": "GET",
           "Access-Control-Request-Headers": "authorization,x-sedulur-user"}
    allowed = requests.options(routing, headers={"Origin": console_origin, **ask}, timeout=10)
    assert allowed.headers["Access-Control-Allow-Origin"] == console_origin
    assert "Authorization" in allowed.headers["Access-Control-Allow-Headers"]
    other = requests.options(routing, headers={"Origin": "http://evil.example", **ask},
                             timeout=10)
    assert "Access-Control-Allow-Origin" not in other.headers
    got = requests.get(routing, headers={"Origin": console_origin, **AGENCY}, timeout=10)
    assert got.status_code == 200
    assert got.headers["Access-Control-Allow-Origin"] == console_origin


def test_desk_list_follows_the_policy_own_desk_kecamatan_kabupaten_auditor(stack):
    intake = stack.settings.http_url("intake")

    def status(headers, desk="332501", **params):
        return requests.get(f"{intake}/desks/{desk}/complaints", headers=headers,
                            params=params, timeout=10).status_code

    assert status(OPERATOR) == 200
    assert status(AUDITOR) == 200
    assert status(SUPERVISOR) == 200
    assert status(actor_headers("op-lain", "operator", desk="332502")) == 403
    assert status(actor_headers("spv-lain", "supervisor", area="332502")) == 403
    assert status(AGENCY) == 403
    assert status(actor_headers("ver-3325", "verifier", kabupaten="3325")) == 200
    assert status(actor_headers("ver-3326", "verifier", kabupaten="3326")) == 403
    assert status(OPERATOR, day="kemarin") == 400
    assert status(OPERATOR, day="2020-01-01") == 200


def may_read(settings: object, service: str, path: str, headers: dict[str, str]) -> bool:
    """Whether the API lets these credentials read `path` (200) or not (403)."""
    status = requests.get(settings.http_url(service) + path, headers=headers,
                          timeout=10).status_code
    assert status in (200, 403), status
    return status == 200


def _complaint_id(dsn: str, number: str) -> uuid.UUID:
    from shared.db import connect

    def row():
        with connect(dsn) as conn:
            return conn.execute("SELECT complaint_id FROM intake.complaint_status"
                                " WHERE registration_number = %s", (number,)).fetchone()

    return wait_until(row, timeout=30, message="status row of the registration")[0]
