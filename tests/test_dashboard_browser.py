"""The Feature Maps tab in a real headless Chromium, served by a real TensorBoard on loopback.

Chromium is driven through its DevTools protocol (``--remote-debugging-port``, a websocket from
``websocket-client``): the test reads the page's state (images loaded, texts, the URL hash) and
collects every console message, exception and failed load. Skips, saying why, where no Chromium
can be had (``.ci/run`` installs it with apt when missing).
"""

from __future__ import annotations

import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time
import typing
import urllib.parse

import pytest
from test_dashboard import EVIL, arrays_run, keras_run

from fmlogger import tags
from helpers import tb_http

pytestmark = pytest.mark.slow
websocket = pytest.importorskip("websocket", reason="needs websocket-client: pip install 'fmlogger[test]'")

EPOCHS = 12
MARKUP_PARENT = "zz"
LAYERS = ("conv1", "conv2")
CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync"]
FRAME = "document.querySelector('iframe').contentDocument"
"""The plugin's document: TensorBoard shows a dynamic plugin in a same-origin iframe."""


def chromium() -> str:
    found = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if not found:
        pytest.skip("no Chromium on PATH (Debian: apt-get install -y chromium; .ci/run installs it)")
    return found


class Browser:
    """Headless Chromium with one page, driven over the DevTools protocol."""

    def __init__(self, size=(1600, 1000)):
        self.profile = tempfile.mkdtemp(prefix="fmlogger-chromium-")
        self.process = subprocess.Popen(
            [chromium(), *CHROMIUM_FLAGS, f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
             f"--window-size={size[0]},{size[1]}", "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )
        port_file = os.path.join(self.profile, "DevToolsActivePort")
        port = self._poll(lambda: os.path.exists(port_file) and open(port_file).read().split()[:1], 30)
        targets = json.loads(tb_http.get(f"http://127.0.0.1:{port[0]}/json/list"))
        page = next(t for t in targets if t["type"] == "page")
        self.ws = websocket.create_connection(page["webSocketDebuggerUrl"], suppress_origin=True, timeout=60)
        self.messages: list[dict] = []
        self._id = 0
        for domain in ("Runtime", "Log", "Page", "Network"):
            self.call(f"{domain}.enable")

    def _poll(self, predicate, timeout: float):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            value = predicate()
            if value:
                return value
            time.sleep(0.1)  # poll interval; the predicate decides
        raise AssertionError(f"timed out after {timeout} s")

    def call(self, method: str, **params):
        self._id += 1
        self.ws.send(json.dumps({"id": self._id, "method": method, "params": params}))
        while True:
            message = json.loads(self.ws.recv())
            if message.get("id") == self._id:
                if "error" in message:
                    raise AssertionError(f"{method}: {message['error']}")
                return message["result"]
            self.messages.append(message)

    def eval(self, expression: str):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait(self, expression: str, timeout: float = 60):
        """Polls a JS expression (errors count as not yet) until it is truthy; returns its value."""

        def probe():
            try:
                return self.eval(expression)
            except AssertionError:
                return None

        try:
            return self._poll(probe, timeout)
        except AssertionError as err:
            raise AssertionError(f"{err} waiting for {expression}; errors: {self.errors()}") from None

    def open(self, url: str) -> None:
        self.call("Page.navigate", url="about:blank")
        self.call("Page.navigate", url=url)

    def errors(self) -> list[str]:
        """Console errors, uncaught exceptions, failed loads and HTTP errors seen so far."""
        self.call("Runtime.evaluate", expression="0")  # drain the socket
        out = []
        for message in self.messages:
            method, params = message.get("method"), message.get("params", {})
            if method == "Runtime.exceptionThrown":
                out.append(json.dumps(params["exceptionDetails"])[:500])
            elif method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                out.append(json.dumps(params.get("args"))[:500])
            elif method == "Log.entryAdded" and params["entry"]["level"] == "error":
                out.append(params["entry"]["text"] + " " + params["entry"].get("url", ""))
            elif method == "Network.loadingFailed" and not params.get("canceled"):
                out.append(f"load failed: {params.get('errorText')}")
            elif method == "Network.responseReceived" and params["response"]["status"] >= 400:
                out.append(f"HTTP {params['response']['status']}: {params['response']['url']}")
        return out

    def close(self) -> None:
        try:
            self.ws.close()
        finally:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
            shutil.rmtree(self.profile, ignore_errors=True)


class Served(typing.NamedTuple):
    base: str
    """TensorBoard's URL."""
    logdir: pathlib.Path
    """The log folder it serves."""


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """A real ``tensorboard --logdir`` (default flags) on 127.0.0.1 over a 12-epoch run."""
    chromium()
    logdir = tmp_path_factory.mktemp("browser")
    keras_run(logdir / "demo", epochs=EPOCHS, layers=LAYERS)
    arrays_run(logdir / MARKUP_PARENT / EVIL, steps=2)  # sorts after demo/: demo is the first run
    arrays_run(logdir / MARKUP_PARENT / "live", steps=2)
    port = tb_http.free_port()
    server = tb_http.popen([sys.executable, "-m", "tensorboard.main", "--logdir", str(logdir),
                            "--host", "127.0.0.1", "--port", str(port)])
    base = f"http://127.0.0.1:{port}"
    try:
        tb_http.wait_for(lambda: tb_http.get_json(f"{base}/data/plugins_listing")["fmlogger"]["enabled"],
                         server, "the fmlogger plugin")
        yield Served(base, logdir)
    finally:
        tb_http.stop(server)


@pytest.fixture
def browser():
    chrome = Browser()
    yield chrome
    chrome.close()


IMAGES = f"[...{FRAME}.querySelectorAll('table.matrix img')]"


def loaded_images(browser: Browser, count: int) -> list[dict]:
    """Waits for ``count`` matrix images, all loaded, and returns their alt, size and URL."""
    browser.wait(f"{IMAGES}.length === {count} && {IMAGES}.every((i) => i.complete)")
    return browser.eval(f"{IMAGES}.map((i) => ({{alt: i.alt, width: i.naturalWidth, src: i.src}}))")


def test_evolution_shows_every_step_of_every_layer_and_loads_each_image(served, browser):
    browser.open(f"{served.base}/#fmlogger")
    images = loaded_images(browser, len(LAYERS) * (EPOCHS + 1))
    assert all(image["width"] > 0 for image in images), [i for i in images if not i["width"]]
    expected = [f"{layer}, step {step}" for layer in LAYERS for step in range(EPOCHS + 1)]
    assert [i["alt"] for i in images] == expected
    assert all(f"run=demo%2F{tags.RUN_SUBDIR}" in i["src"] and "sample=0" in i["src"] for i in images)
    headers = browser.eval(f"[...{FRAME}.querySelectorAll('.matrix thead th')].map((t) => t.textContent)")
    assert headers == ["layer \\ step", "0 = untrained"] + [str(s) for s in range(1, EPOCHS + 1)]
    assert browser.eval("location.hash").startswith("#fmlogger&fm.view=evolution&fm.run=demo%2Ffeature_maps")
    assert browser.errors() == []


def test_keys_move_the_current_cell_and_the_permalink_reproduces_it(served, browser):
    browser.open(f"{served.base}/#fmlogger")
    loaded_images(browser, len(LAYERS) * (EPOCHS + 1))
    for key in ("ArrowRight", "ArrowRight", "ArrowRight", "ArrowDown"):
        browser.eval(f"{FRAME}.dispatchEvent(new KeyboardEvent('keydown', {{key: '{key}', bubbles: true}}))")
    current = f"{FRAME}.querySelector('.cell.current img')"
    assert browser.wait(f"{current} && {current}.alt") == "conv2, step 3"
    link = browser.eval("location.href")
    assert "fm.step=3" in link and "fm.layer=conv2" in link
    browser.open(link.replace("fm.view=evolution", "fm.view=evolution&fm.open=1"))
    assert browser.wait(f"{current} && {current}.alt") == "conv2, step 3"
    dialog = f"{FRAME}.querySelector('.detail')"
    text = browser.wait(f"{dialog} && {dialog}.textContent.includes('normalize=') && {dialog}.textContent")
    assert "conv2 \u00b7 step 3 \u00b7 sample 0" in text and "Channels shown0, 1, 2, 3, 4, 5" in text
    assert browser.wait(f"{dialog}.querySelector('img.large').naturalWidth") > 0
    assert browser.errors() == []


def test_compare_curves_and_explanations_render(served, browser):
    browser.open(f"{served.base}/#fmlogger&fm.view=compare&fm.layer=conv2&fm.step=0&fm.stepB=12")
    caption = browser.wait(f"{FRAME}.querySelector('.panels figure:last-child span').textContent"
                           f".startsWith('max') && {FRAME}.querySelector('.panels').textContent")
    assert "A: demo/feature_maps, conv2, step 0 = untrained" in caption
    assert "B: demo/feature_maps, conv2, step 12" in caption and "same as A" in caption
    assert browser.eval(f"{FRAME}.querySelector('canvas.compare').width") > 0

    browser.open(f"{served.base}/#fmlogger&fm.view=curves")
    charts = browser.wait(f"{FRAME}.querySelectorAll('svg.chart').length >= 9 && "
                          f"[...{FRAME}.querySelectorAll('svg.chart')]"
                          ".map((c) => c.getAttribute('aria-label'))")
    assert [f"{layer} {stat}" for layer in LAYERS for stat in tags.STAT_NAMES] == charts[-8:]
    assert "epoch_loss" in charts
    # stats: 13 points (steps 0..12); Keras' loss: 12 points at 1..12 (epoch e drawn at e + 1)
    points = browser.eval(f"[...{FRAME}.querySelectorAll('svg.chart')].map((c) => "
                          "[...c.querySelectorAll('polyline')].map((p) => p.points.numberOfItems))")
    assert points[charts.index("conv1 mean")] == [EPOCHS + 1]
    assert points[charts.index("epoch_loss")] == [EPOCHS, EPOCHS]  # train and validation

    browser.open(f"{served.base}/#fmlogger&fm.view=explanations")
    images = loaded_images(browser, 3 * (EPOCHS + 1))
    rows = sorted({image["alt"].split(",")[0] for image in images})
    assert rows == ["activation_max/conv1", "gradcam/conv2", "saliency/vanilla"]
    assert all(image["width"] > 0 for image in images)
    assert browser.errors() == []


def test_a_run_named_like_markup_is_shown_as_text(served, browser):
    run = f"{MARKUP_PARENT}/{EVIL}/{tags.RUN_SUBDIR}"
    browser.open(f"{served.base}/#fmlogger&fm.run={urllib.parse.quote(run, safe='')}")
    loaded_images(browser, 2)
    options = browser.eval(f"[...{FRAME}.querySelectorAll('option')].map((o) => o.textContent)")
    assert run in options
    assert browser.eval(f"{FRAME}.querySelector('select').value") == run
    assert browser.eval(f"{FRAME}.querySelectorAll('img[src=\"x\"]').length + "
                        "document.querySelectorAll('img[src=\"x\"]').length") == 0
    assert browser.eval("window.__pwned === undefined && "
                        f"{FRAME}.defaultView.__pwned === undefined") is True
    assert browser.errors() == []


def test_new_steps_appear_while_the_tab_is_open(served, browser):
    run = f"{MARKUP_PARENT}/live/{tags.RUN_SUBDIR}"
    browser.open(f"{served.base}/#fmlogger&fm.run={urllib.parse.quote(run, safe='')}")
    loaded_images(browser, 2)
    arrays_run(served.logdir / MARKUP_PARENT / "live", steps=4, seed=7)  # training goes on: steps 0..3
    images = loaded_images(browser, 4)  # the page polls every 10 s; the server re-scans the new bytes
    assert [i["alt"] for i in images] == [f"a, step {s}" for s in range(4)]
    assert all(i["width"] > 0 for i in images)
    assert browser.errors() == []
