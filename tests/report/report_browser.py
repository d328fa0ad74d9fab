"""Headless Chromium driven over the DevTools protocol on a pipe (stdlib only): open a page, collect every
console message, uncaught exception and network request, evaluate expressions, take screenshots.

    binary = find_chromium()                      # None when no browser is installed
    with Browser(binary) as browser:
        page = browser.open(path)                 # a file:// load, waits for the load event and two frames
        page.errors, page.requests, page.render_ms
        browser.evaluate("document.querySelectorAll('tbody.exp').length")
        browser.screenshot(out_png)

`--remote-debugging-pipe` makes Chromium read commands on fd 3 and write replies on fd 4, each message a
JSON object ended by a NUL byte. No port, no network, no third-party client.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

CANDIDATES = ("chromium", "chromium-headless-shell", "google-chrome", "chrome")
BINARY_ENV = "REPORT_BROWSER"  # an explicit browser binary
INSTALL_HINT = "install it with `apt-get install -y --no-install-recommends chromium` (Debian/Ubuntu)"
TIMEOUT_SECONDS = 60.0


def find_chromium() -> str | None:
    override = os.environ.get(BINARY_ENV)
    if override:
        return override if Path(override).is_file() else None
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return path
    return None


def require_chromium() -> str:
    """The browser; missing: skip with the install command, but FAIL when $CI is set (CI installs it, so a
    skip there would hide the only test that renders the page)."""
    import pytest

    binary = find_chromium()
    if binary is None:
        where = os.environ.get(BINARY_ENV) or " or ".join(CANDIDATES) + " on PATH"
        message = f"headless Chromium not found ({where}); {INSTALL_HINT}"
        if os.environ.get("CI"):
            pytest.fail(message + " (CI is set: the browser test must not be skipped)", pytrace=False)
        pytest.skip(message)
    return binary


@dataclass
class Page:
    url: str
    render_ms: float = 0.0  # navigation start -> load event + two animation frames, in the page's clock
    wall_ms: float = 0.0  # Page.navigate sent -> those frames, on this side
    errors: list[str] = field(default_factory=list)  # console.error/assert, uncaught exceptions, log errors
    requests: list[str] = field(default_factory=list)  # every URL the page asked for
    dialogs: list[str] = field(default_factory=list)  # alert/confirm/prompt the page opened


class BrowserError(Exception):
    pass


class Browser:
    def __init__(self, binary: str, width: int = 1280, height: int = 900):
        self.width, self.height = width, height
        self.profile = tempfile.mkdtemp(prefix="report-browser-")
        cmd_r, cmd_w = os.pipe()
        res_r, res_w = os.pipe()

        def wire():  # in the child: commands on fd 3, replies on fd 4 (moved up first so they never collide)
            a = fcntl.fcntl(cmd_r, fcntl.F_DUPFD, 10)
            b = fcntl.fcntl(res_w, fcntl.F_DUPFD, 10)
            os.dup2(a, 3)
            os.dup2(b, 4)

        args = [
            binary,
            "--headless=new",
            "--disable-gpu",
            "--no-sandbox",
            "--remote-debugging-pipe",
            f"--user-data-dir={self.profile}",
            "--no-first-run",
            "--no-default-browser-check",
            "--disable-extensions",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--disable-dev-shm-usage",
            "--hide-scrollbars",
            "--mute-audio",
            f"--window-size={width},{height}",
            "about:blank",
        ]
        self.stderr = tempfile.TemporaryFile()
        self.proc = subprocess.Popen(
            args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=self.stderr,
            preexec_fn=wire,
            close_fds=False,  # Python's own fds are non-inheritable; only fds 3 and 4 cross the exec
        )
        os.close(cmd_r)
        os.close(res_w)
        self._out = os.fdopen(cmd_w, "wb", buffering=0)
        self._in = res_r
        self._next_id = 0
        self._lock = threading.Condition()
        self._replies: dict[int, dict] = {}
        self._events: list[dict] = []
        self._closed = False
        self._reader = threading.Thread(target=self._read_loop, daemon=True)
        self._reader.start()
        target = self.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        self.session = self.call("Target.attachToTarget", {"targetId": target, "flatten": True})["sessionId"]
        for domain in ("Page", "Runtime", "Log", "Network"):
            self.call(f"{domain}.enable", session=True)
        self.call(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            session=True,
        )

    # --- the pipe ---

    def _read_loop(self):
        buf = b""
        while True:
            try:
                chunk = os.read(self._in, 1 << 16)
            except OSError:
                chunk = b""
            if not chunk:
                with self._lock:
                    self._closed = True
                    self._lock.notify_all()
                return
            buf += chunk
            *messages, buf = buf.split(b"\0")
            with self._lock:
                for raw in messages:
                    msg = json.loads(raw)
                    if "id" in msg:
                        self._replies[msg["id"]] = msg
                    else:
                        self._events.append(msg)
                self._lock.notify_all()

    def call(self, method: str, params: dict | None = None, session: bool = False, timeout=TIMEOUT_SECONDS):
        with self._lock:
            self._next_id += 1
            msg_id = self._next_id
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = self.session
        self._out.write(json.dumps(msg).encode() + b"\0")
        deadline = time.monotonic() + timeout
        with self._lock:
            while msg_id not in self._replies:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    why = "browser exited" if self._closed else "timeout"
                    raise BrowserError(f"no reply to {method} ({why})")
                self._lock.wait(left)
            reply = self._replies.pop(msg_id)
        if "error" in reply:
            raise BrowserError(f"{method}: {reply['error'].get('message')}")
        return reply.get("result", {})

    def _wait_event(self, method: str, since: int, timeout=TIMEOUT_SECONDS) -> dict:
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                for ev in self._events[since:]:
                    if ev.get("method") == method:
                        return ev
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise BrowserError(f"no {method} event")
                self._lock.wait(left)

    # --- what the tests use ---

    def open(self, path: str | os.PathLike) -> Page:
        url = Path(path).resolve().as_uri()
        with self._lock:
            start = len(self._events)
        t0 = time.perf_counter()
        self.call("Page.navigate", {"url": url}, session=True)
        self._wait_event("Page.loadEventFired", start)
        render_ms = self.evaluate(
            "new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
        )
        page = Page(url=url, render_ms=float(render_ms), wall_ms=(time.perf_counter() - t0) * 1000)
        with self._lock:
            events = list(self._events[start:])
        for ev in events:
            method, params = ev.get("method"), ev.get("params", {})
            if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
                args = params.get("args", [])
                page.errors.append(" ".join(str(a.get("value", a.get("description"))) for a in args))
            elif method == "Runtime.exceptionThrown":
                details = params.get("exceptionDetails", {})
                thrown = details.get("exception", {}).get("description") or details.get("text")
                page.errors.append(str(thrown))
            elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
                page.errors.append(params["entry"].get("text", ""))
            elif method == "Network.requestWillBeSent":
                page.requests.append(params.get("request", {}).get("url", ""))
            elif method == "Page.javascriptDialogOpening":
                page.dialogs.append(params.get("message", ""))
        return page

    def evaluate(self, expression: str):
        result = self.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            session=True,
        )
        if "exceptionDetails" in result:
            raise BrowserError(f"evaluate {expression[:60]!r}: {result['exceptionDetails'].get('text')}")
        return result.get("result", {}).get("value")

    def screenshot(self, out: str | os.PathLike, full_page: bool = False) -> Path:
        params: dict = {"format": "png"}
        if full_page:
            height = self.evaluate("document.documentElement.scrollHeight")
            params.update(
                captureBeyondViewport=True,
                clip={"x": 0, "y": 0, "width": self.width, "height": height, "scale": 1},
            )
        data = self.call("Page.captureScreenshot", params, session=True)["data"]
        out = Path(out)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self):
        try:
            if not self._closed:
                self.call("Browser.close", timeout=10)
        except BrowserError:
            pass
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self._out.close()
        self.stderr.close()
        shutil.rmtree(self.profile, ignore_errors=True)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()
