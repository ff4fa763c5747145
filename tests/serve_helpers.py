"""Start ``xforge serve`` in a subprocess and drive its page in headless Chromium (Debian's package)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from contextlib import contextmanager
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    # Anything but loopback fails at once instead of hanging on a machine without internet.
    "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1",
)


@contextmanager
def running_server(tmp: Path, *extra: str, timeout: float = 90.0):
    """Yield ``(url, temp_folder)`` of ``xforge serve --port 0`` whose TMPDIR is ``tmp/tmp``; stop it after."""
    tmpdir = tmp / "tmp"
    tmpdir.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "TMPDIR": str(tmpdir), "PYTHONPATH": str(REPO)}
    log = open(tmp / "server.log", "w+", encoding="utf-8")
    proc = subprocess.Popen(
        [sys.executable, "-m", "xforge", "serve", "--port", "0", *extra],
        cwd=tmp,
        env=env,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        if not line.startswith("xforge serve: http://"):
            log.seek(0)
            raise RuntimeError(f"server did not start: {line!r}\n{log.read()[-3000:]}")
        url = line.split()[2]
        deadline = time.monotonic() + timeout
        while True:
            try:
                with urllib.request.urlopen(url + "api/info", timeout=5) as r:
                    json.load(r)
                break
            except OSError:
                if time.monotonic() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.3)
        yield url, tmpdir
    finally:
        proc.send_signal(signal.SIGTERM)  # what service managers send
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        log.close()


def find_browser() -> tuple[str, str] | None:
    """(chromium, chromedriver) paths, or None when Debian's packages are not installed."""
    browser = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    return (browser, driver) if browser and driver else None


def chromium(profile: Path, width: int = 1400, height: int = 1300):
    """A headless Chromium under Selenium, with a fresh profile and its network log switched on."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    browser, driver = find_browser()
    options = webdriver.ChromeOptions()
    options.binary_location = browser
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={profile}")
    options.add_argument(f"--window-size={width},{height}")
    options.set_capability("goog:loggingPrefs", {"performance": "ALL"})
    return webdriver.Chrome(options=options, service=Service(executable_path=driver))


def requested_urls(driver) -> list[str]:
    """Every URL the page asked for so far (from Chromium's performance log)."""
    urls = []
    for entry in driver.get_log("performance"):
        msg = json.loads(entry["message"])["message"]
        if msg.get("method") == "Network.requestWillBeSent":
            urls.append(msg["params"]["request"]["url"])
    return urls


def full_page_screenshot(driver, path: Path, width: int = 1400) -> Path:
    """Resize the window to the page's content height, then save a PNG of all of it."""
    measure = (
        "window.scrollTo(0, 0);"
        "const c = document.querySelector('.gradio-container') || document.body;"
        "return Math.ceil(c.getBoundingClientRect().bottom + window.scrollY)"
    )
    for _ in range(2):  # the layout can reflow once at the new size
        height = int(driver.execute_script(measure))
        driver.set_window_size(width, min(height + 140, 4000))  # + the window's own chrome
        time.sleep(0.5)  # let the layout settle after the resize
    driver.execute_script("window.scrollTo(0, 0)")
    driver.save_screenshot(str(path))
    return path
