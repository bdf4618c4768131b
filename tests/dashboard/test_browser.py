"""A real browser (headless Debian Chromium) on the running dashboard: fill the form, get a price."""

from __future__ import annotations

import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
from selenium import webdriver
from selenium.common.exceptions import TimeoutException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support import expected_conditions as ec
from selenium.webdriver.support.ui import WebDriverWait

from tests.conftest import REPO
from tests.dashboard import seeding
from tests.dashboard.conftest import Dashboard, Stack

pytestmark = pytest.mark.integration

CHROMIUM = "/usr/bin/chromium"
CHROMEDRIVER = "/usr/bin/chromedriver"
OUTPUT = REPO / "tests" / "output"
SCREENSHOTS = REPO / "docs" / "screenshots"
FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)


@pytest.fixture
def browser() -> Iterator[WebDriver]:
    """Debian's Chromium and chromedriver, named explicitly so Selenium never downloads a browser."""
    with tempfile.TemporaryDirectory(prefix="chromium-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = CHROMIUM
        for flag in (*FLAGS, f"--user-data-dir={profile}", "--window-size=1400,1800"):
            options.add_argument(flag)
        driver = webdriver.Chrome(options=options, service=Service(executable_path=CHROMEDRIVER))
        try:
            yield driver
        finally:
            driver.quit()


def no_exception(driver: WebDriver, log: Path) -> None:
    shown = driver.find_elements(By.CSS_SELECTOR, '[data-testid="stException"]')
    assert not shown, f"the page shows an exception: {shown[0].text}\n{log.read_text()[-3000:]}"


def wait_for(driver: WebDriver, selector: str, timeout: float, name: str) -> str:
    try:
        WebDriverWait(driver, timeout).until(ec.presence_of_element_located((By.CSS_SELECTOR, selector)))
        return str(driver.find_element(By.CSS_SELECTOR, selector).text)
    except TimeoutException:
        driver.save_screenshot(str(OUTPUT / f"{name}-timeout.png"))
        raise


def test_a_browser_values_a_house_and_sees_the_live_feed(
    browser: WebDriver, dashboard_server: Dashboard, live_stack: Stack
) -> None:
    OUTPUT.mkdir(parents=True, exist_ok=True)
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    seeding.save(live_stack.settings, seeding.fake_results(400, seed=7))
    browser.get(dashboard_server.url)  # the default page: "Value a house"
    area = WebDriverWait(browser, 60).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="Living area (sq ft)"]'))
    )
    browser.execute_script("arguments[0].scrollIntoView({block: 'center'})", area)
    area.click()
    area.send_keys(Keys.CONTROL, "a", Keys.BACKSPACE, "2100")
    button = browser.find_element(By.XPATH, "//button[.//p[text()='Value this house']]")
    button.click()
    price = wait_for(browser, '[data-testid="stMetricValue"]', 90, "valuation")
    no_exception(browser, dashboard_server.log)
    assert price.startswith("$"), price
    assert 50_000 < float(price[1:].replace(",", "")) < 1_000_000
    wait_for(browser, '[data-testid="stPlotlyChart"]', 30, "valuation-chart")
    browser.save_screenshot(str(OUTPUT / "valuation.png"))
    browser.save_screenshot(str(SCREENSHOTS / "valuation.png"))

    browser.get(f"{dashboard_server.url}/live")
    wait_for(browser, '[data-testid="stMetricValue"]', 60, "live")
    wait_for(browser, '[data-testid="stPlotlyChart"]', 30, "live-chart")
    no_exception(browser, dashboard_server.log)
    browser.save_screenshot(str(OUTPUT / "live_feed.png"))
    browser.save_screenshot(str(SCREENSHOTS / "live_feed.png"))


def sign_in(driver: WebDriver, key: str) -> None:
    field = WebDriverWait(driver, 60).until(
        ec.element_to_be_clickable((By.CSS_SELECTOR, 'input[aria-label="API key"]'))
    )
    field.send_keys(key, Keys.ENTER)
    WebDriverWait(driver, 60).until(ec.text_to_be_present_in_element((By.CSS_SELECTOR, "section"), "Signed in as"))


def history_caption(driver: WebDriver) -> str:
    link = WebDriverWait(driver, 30).until(ec.element_to_be_clickable((By.CSS_SELECTOR, 'a[href$="/history"]')))
    link.click()  # in-app navigation keeps the session (and its key); a new page load would not
    locator = (By.XPATH, "//*[@data-testid='stCaptionContainer'][contains(., 'results match')]")
    return str(WebDriverWait(driver, 60).until(ec.presence_of_element_located(locator)).text)


def test_two_keys_each_see_only_their_own_history(
    browser: WebDriver, keyed_dashboard: tuple[Dashboard, dict[str, int]]
) -> None:
    dashboard, counts = keyed_dashboard
    browser.get(dashboard.url)
    WebDriverWait(browser, 60).until(ec.text_to_be_present_in_element((By.TAG_NAME, "body"), "needs an API key"))
    assert not browser.find_elements(By.CSS_SELECTOR, '[data-testid="stDataFrame"]')
    for name, count in counts.items():
        browser.delete_all_cookies()
        browser.get(dashboard.url)
        sign_in(browser, f"secret-{name}")
        caption = history_caption(browser)
        no_exception(browser, dashboard.log)
        assert caption.startswith(f"{count} of {count} results match"), (name, caption)
