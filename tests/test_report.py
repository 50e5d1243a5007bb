"""The HTML report (collect.py --format html) opened in a real headless browser.

Debian's chromium, installed with apt-get where it is missing (as root, as
docker/engine.py installs Docker), is driven over the Chrome DevTools Protocol
(websocket-client on --remote-debugging-port, on 127.0.0.1 only): the page loads
from disk with no console error and no request for anything but itself, its
tables and charts are there, a click on a header sorts its table, and a screenshot
of it is not blank. The results folder holds one real tiny run and records of every
kind the collector knows (ok, failed, skipped, interrupted, several processes on
several nodes, two dates and Keras versions), and two malformed files, which stay
out of the page and are named on stderr.

REPORT_SCREENSHOT=docs/report.png pytest tests/test_report.py also writes the
screenshot there (the README shows it).
"""
import base64
import io
import itertools
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request

import pytest
import websocket
from PIL import Image

from conftest import INSTALLED_BACKENDS, REPO, harness, only_result
from helpers import gpu_telemetry, record, write

sys.path.insert(0, os.path.join(REPO, "docker"))
import engine as docker_engine  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
COLLECT = os.path.join(REPO, "harness", "collect.py")
VIEWPORT = (1280, 900)
STABLE = {"verdict": "stable", "failed": [], "cv_pct": 1.0}
# Each backend's speed on the first date, and on the second (TensorFlow a quarter slower).
SPEEDS = {"jax": (100, 101), "tensorflow": (200, 150), "torch": (300, 305)}
PACKAGES = {"jax": "jax", "tensorflow": "tensorflow-cpu", "torch": "torch"}


@pytest.fixture(scope="module")
def chromium():
    """Debian's chromium, installed here if it is missing."""
    if not os.path.exists(CHROMIUM):
        if os.getuid() != 0:
            pytest.fail("chromium is missing, and installing it takes root: "
                        "apt-get install chromium")
        docker_engine.apt_install(["chromium"])
    return CHROMIUM


def dated(day, one):
    one["started_at"] = day + one["started_at"][10:]
    return one


def mlp_runs(day, keras_version, index):
    """Four repeats of the MLP on each backend, at its speed on that date (SPEEDS[index])."""
    return [dated(day, record(
        "mlp", backend, PACKAGES[backend], "2-core", 0, 32, "channels_last",
        speed=speeds[index] * (1 + 0.01 * repeat), keras_version=keras_version,
        epoch_speeds=[speeds[index] * (1 + 0.01 * epoch + 0.005 * repeat) for epoch in range(4)],
        stability=STABLE)) for backend, speeds in SPEEDS.items() for repeat in range(4)]


DATES = (("2026-03-01", "3.15.1", 0), ("2026-03-08", "3.16.0", 1))


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """Results of every kind, a real run among them, and two malformed files."""
    out = tmp_path_factory.mktemp("results")
    proc = harness("mlp", "--backend", INSTALLED_BACKENDS[0], "--out", out, "--epochs", 2,
                   "--warmup", 0, "--steps-per-epoch", 2, "--batch-size", 4)
    assert only_result(out, proc)["status"] == "ok"
    records = [one for date in DATES for one in mlp_runs(*date)]
    records += [record("cnn", "jax", "jax", "2-core", 0, 32, "channels_last", status=status,
                       error={"type": "RuntimeError", "message": "%s run" % status,
                              "traceback": "Traceback (most recent call last):\n  boom"})
                for status in ("error", "skipped", "interrupted")]
    records.append(record("resnet50", "torch", "torch", "P3.8xLarge", 4, 128, "channels_last",
                          speed=900, processes=2, nodes=2, launcher="torchrun",
                          telemetry=gpu_telemetry((90, 5000), (80, 5200))))
    records.append(record("vgg16", "tensorflow", "tensorflow-cpu", "2-core", 0, 16,
                          "channels_last", speed=12))
    write(out, *records)
    (out / "torn.json").write_text("{not json")
    bad = record("mlp", "jax", "jax", speed=50)
    bad["config"]["model"] = 7
    (out / "wrong-model.json").write_text(json.dumps(bad))
    return out


@pytest.fixture(scope="module")
def report(folder, tmp_path_factory):
    """The report of `folder`: (its path, the collector's stderr)."""
    page = tmp_path_factory.mktemp("report") / "report.html"
    with open(str(page), "w") as out:
        proc = subprocess.run([sys.executable, COLLECT, str(folder), "--format", "html"],
                              stdout=out, stderr=subprocess.PIPE, universal_newlines=True,
                              timeout=300)
    assert proc.returncode == 0, proc.stderr
    return page, proc.stderr


class Browser(object):
    """Headless chromium with one page, driven over the DevTools Protocol; every event it
    sends is kept in `events`."""

    def __init__(self, chromium, profile):
        self.process = subprocess.Popen(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
             "--disable-background-networking", "--disable-component-update",
             "--remote-debugging-address=127.0.0.1", "--remote-debugging-port=0",
             "--user-data-dir=" + profile, "about:blank"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, universal_newlines=True)
        port = self._port()
        with urllib.request.urlopen("http://127.0.0.1:%d/json/list" % port, timeout=30) as answer:
            pages = [t for t in json.load(answer) if t["type"] == "page"]
        self.socket = websocket.create_connection(pages[0]["webSocketDebuggerUrl"], timeout=60,
                                                  suppress_origin=True)
        self.ids = itertools.count(1)
        self.events = []

    def _port(self):
        """The port chromium says it listens on (stderr's 'DevTools listening on ws://')."""
        lines = []
        deadline = time.time() + 60
        while time.time() < deadline:
            line = self.process.stderr.readline()
            lines.append(line)
            found = re.search(r"DevTools listening on ws://127\.0\.0\.1:(\d+)/", line)
            if found:
                return int(found.group(1))
            if not line and self.process.poll() is not None:
                break
        raise AssertionError("chromium did not start:\n" + "".join(lines))

    def call(self, method, **params):
        number = next(self.ids)
        self.socket.send(json.dumps({"id": number, "method": method, "params": params}))
        while True:
            message = json.loads(self.socket.recv())
            if message.get("id") == number:
                assert "error" not in message, (method, message["error"])
                return message["result"]
            self.events.append(message)

    def wait_for(self, event):
        while not any(e.get("method") == event for e in self.events):
            self.events.append(json.loads(self.socket.recv()))

    def evaluate(self, expression):
        result = self.call("Runtime.evaluate", expression=expression, returnByValue=True)
        assert "exceptionDetails" not in result, result["exceptionDetails"]
        return result["result"].get("value")

    def close(self):
        self.socket.close()
        self.process.terminate()
        self.process.wait(timeout=30)
        self.process.stderr.close()


@pytest.fixture(scope="module")
def page(chromium, report):
    """The report loaded in chromium: (the Browser, the page's URL)."""
    profile = tempfile.mkdtemp(prefix="chromium-profile-")
    browser = Browser(chromium, profile)
    try:
        for domain in ("Runtime", "Log", "Network", "Page"):
            browser.call(domain + ".enable")
        browser.call("Emulation.setDeviceMetricsOverride", width=VIEWPORT[0],
                     height=VIEWPORT[1], deviceScaleFactor=1, mobile=False)
        url = "file://" + str(report[0])
        browser.call("Page.navigate", url=url)
        browser.wait_for("Page.loadEventFired")
        yield browser, url
    finally:
        browser.close()
        shutil.rmtree(profile, ignore_errors=True)


def test_the_page_loads_alone_without_an_error(page):
    browser, url = page
    requests = [e["params"]["request"]["url"] for e in browser.events
                if e["method"] == "Network.requestWillBeSent"]
    assert requests == [url]  # the page itself, nothing else: no network
    errors = [e for e in browser.events
              if e["method"] == "Runtime.exceptionThrown"
              or (e["method"] == "Runtime.consoleAPICalled"
                  and e["params"]["type"] in ("error", "warning", "assert"))
              or (e["method"] == "Log.entryAdded"
                  and e["params"]["entry"]["level"] in ("error", "warning"))]
    assert errors == []


def test_the_page_holds_the_tables_charts_and_every_run(page, folder):
    browser, _ = page
    headings = browser.evaluate(
        "Array.from(document.querySelectorAll('h2, h3'), h => h.textContent)")
    for heading in ("Backend Comparison", "VGG16 (the seed's table)", "Speed per Workload",
                    "History", "Failed, Skipped and Interrupted Runs", "Runs"):
        assert heading in headings
    assert browser.evaluate("document.querySelectorAll('table.sortable').length") >= 8
    # a workload's speeds (the MLP's backends) and the MLP's history, shown; the overview
    # of every workload one click away
    charts = browser.evaluate("Array.from(document.querySelectorAll('figure svg'), "
                              "s => s.getBoundingClientRect().width)")
    assert len(charts) == 2 and min(charts) > 300
    assert browser.evaluate("document.querySelectorAll('details > .overview > svg').length") == 1
    # TensorFlow's drop between the two dates is marked on the history, with its test
    assert browser.evaluate(
        "Array.from(document.querySelectorAll('h2 ~ table td'), c => c.textContent)"
        ".includes('slower')")
    # every run that was read, one click away: 24 + 3 failures + multi-node + VGG16 + real
    runs = browser.evaluate("Array.from(document.querySelectorAll('details[id^=run-]'), "
                            "d => [d.id, d.textContent])")
    assert len(runs) == 24 + 3 + 1 + 1 + 1
    text = "\n".join(body for _, body in runs)
    for shown in ("python -m harness", "Traceback (most recent call last)", "interrupted run",
                  "2 on 2 nodes (torchrun)", "Keras 3.16.0", "Intel Xeon Platinum, 72 cores"):
        assert shown in text


def test_malformed_files_stay_out_of_the_page_and_are_named_on_stderr(report):
    path, errors = report
    html = path.read_text()
    for name in ("torn.json", "wrong-model.json"):
        assert "skipped" in errors and name in errors
        assert name not in html
    assert "2 result files could not be read" in html


def test_a_click_on_a_header_sorts_its_table(page):
    browser, _ = page
    column = """(function () {
        var heading = Array.from(document.querySelectorAll('h3'))
            .find(h => h.textContent === 'Backend Comparison');
        var table = heading.nextElementSibling;
        while (table.tagName !== 'TABLE') table = table.nextElementSibling;
        var at = Array.from(table.tHead.rows[0].cells)
            .findIndex(c => c.textContent.startsWith('Speed'));
        window.sortedHeader = table.tHead.rows[0].cells[at];
        return Array.from(table.tBodies[0].rows, r => parseFloat(r.cells[at].textContent));
    })()"""
    before = browser.evaluate(column)
    browser.evaluate("window.sortedHeader.click()")
    after = browser.evaluate(column)
    assert after == sorted(before) and after != before
    browser.evaluate("window.sortedHeader.click()")
    assert browser.evaluate(column) == sorted(before, reverse=True)


def test_a_screenshot_of_the_page_is_not_blank(page):
    browser, _ = page
    browser.evaluate("window.scrollTo(0, 0)")
    png = base64.b64decode(browser.call("Page.captureScreenshot", format="png")["data"])
    image = Image.open(io.BytesIO(png)).convert("RGB")
    assert image.size == VIEWPORT
    colours = image.getcolors(maxcolors=1 << 16)
    assert colours is None or len(colours) > 20  # text and a chart, not one flat colour
    white = sum(count for count, colour in colours or () if colour == (255, 255, 255))
    assert white < 0.97 * image.size[0] * image.size[1]
    if os.environ.get("REPORT_SCREENSHOT"):
        image.quantize(colors=64).save(os.environ["REPORT_SCREENSHOT"], optimize=True)


def test_compare_as_a_page_sets_both_sides_side_by_side(tmp_path):
    baseline, new = tmp_path / "baseline", tmp_path / "new"
    write(baseline, *mlp_runs(*DATES[0]))
    write(new, *mlp_runs(*DATES[1]))
    proc = subprocess.run([sys.executable, COLLECT, "compare", str(baseline), str(new),
                           "--format", "html"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          universal_newlines=True, timeout=300)
    assert proc.returncode == 1, proc.stderr  # TensorFlow is slower: the gate fails
    rows = re.findall(r"<tr>(.*?)</tr>", proc.stdout)
    assert re.findall(r"<th>(.*?)</th>", rows[0]) == [
        "Workload", "Backend", "Baseline", "New", "New/Baseline", "p", "Mark"]
    cells = {re.search(r"<td>(\w+) \(", row).group(1): re.findall(r"<td[^>]*>(.*?)</td>", row)
             for row in rows[1:]}
    assert cells["TensorFlow"][2:] == ["203/s", "152.2/s", "0.75", "&lt;0.001 [0.73, 0.77]", "slower"]
    assert cells["PyTorch"][-1] == "not significant" and cells["JAX"][-1] == "not significant"
    assert '<td class="bad">slower</td>' in proc.stdout
    assert "Welch&#39;s t-test" in proc.stdout and "http" not in proc.stdout
