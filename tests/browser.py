"""Open an HTML file in real headless Chromium over the DevTools protocol (aiohttp websocket).

Collects console errors, uncaught exceptions and failed loads, and evaluates an expression in
the page once it has loaded. Written against the raw protocol to avoid a browser-automation
dependency: only `chromium` from Debian is needed.
"""

from __future__ import annotations

import asyncio
import base64
import json
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp

CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--remote-debugging-port=0",
)


def chromium_path() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def require_chromium() -> None:
    """Skip where chromium is not installed; in CI (which installs it) fail instead, so a
    missing browser never hides the HTML checks."""
    import os

    import pytest

    if chromium_path() is not None:
        return
    message = "needs Debian chromium (apt-get install chromium; .ci/run installs it)"
    if os.environ.get("CI"):
        pytest.fail(message)
    pytest.skip(message)


@dataclass
class PageResult:
    console_errors: list[str] = field(default_factory=list)
    value: Any = None


def open_page(path: Path, expression: str, *, timeout_s: float = 30.0) -> PageResult:
    """Load `path` in headless Chromium; return console errors and `expression`'s value."""
    with Chromium(timeout_s=timeout_s) as browser:
        return browser.open(path, expression)


class Chromium:
    """One headless Chromium for many pages (starting it is the slow part): a test module
    opens it once and loads each report in its one tab, at a desktop viewport."""

    def __init__(self, *, timeout_s: float = 30.0) -> None:
        self.timeout_s = timeout_s
        self._profile: tempfile.TemporaryDirectory[str] | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._port = 0

    def __enter__(self) -> Chromium:
        binary = chromium_path()
        if binary is None:
            raise RuntimeError("chromium is not installed (apt-get install chromium)")
        # chromium's helper processes may still write to the profile as it exits
        self._profile = tempfile.TemporaryDirectory(ignore_cleanup_errors=True)
        profile = self._profile.name
        self._process = subprocess.Popen(
            [binary, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            deadline = time.monotonic() + self.timeout_s
            while not port_file.exists() or not port_file.read_text().strip():
                if time.monotonic() > deadline or self._process.poll() is not None:
                    raise RuntimeError("chromium did not start its DevTools endpoint")
                time.sleep(0.05)
            self._port = int(port_file.read_text().split()[0])
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc: object) -> None:
        if self._process is not None:
            self._process.terminate()
            try:
                self._process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
            self._process = None
        if self._profile is not None:
            self._profile.cleanup()
            self._profile = None

    def open(
        self,
        path: Path,
        expression: str,
        *,
        viewport: tuple[int, int] = (1280, 900),
        screenshot: Path | None = None,
    ) -> PageResult:
        """Load `path` at `viewport`; evaluate `expression`; save a full-page PNG when asked."""
        return asyncio.run(
            asyncio.wait_for(
                _drive(self._port, path.resolve().as_uri(), expression, viewport, screenshot),
                self.timeout_s,
            )
        )


async def _drive(
    port: int,
    url: str,
    expression: str,
    viewport: tuple[int, int] = (1280, 900),
    screenshot: Path | None = None,
) -> PageResult:
    result = PageResult()
    async with aiohttp.ClientSession() as session:
        async with session.get(f"http://127.0.0.1:{port}/json/list") as response:
            targets = await response.json()
        page = next(t for t in targets if t.get("type") == "page")
        async with session.ws_connect(page["webSocketDebuggerUrl"], max_msg_size=0) as ws:
            counter = 0

            async def send(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
                nonlocal counter
                counter += 1
                my_id = counter
                await ws.send_str(
                    json.dumps({"id": my_id, "method": method, "params": params or {}})
                )
                while True:
                    message = json.loads((await ws.receive()).data)
                    _collect(message, result)
                    if message.get("id") == my_id:
                        return dict(message.get("result", {}))

            for domain in ("Runtime.enable", "Log.enable", "Page.enable"):
                await send(domain)
            width, height = viewport
            await send(
                "Emulation.setDeviceMetricsOverride",
                {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
            )
            await send("Page.navigate", {"url": url})
            while True:  # until the load event
                message = json.loads((await ws.receive()).data)
                _collect(message, result)
                if message.get("method") == "Page.loadEventFired":
                    break
            evaluated = await send(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}
            )
            result.value = evaluated.get("result", {}).get("value")
            if screenshot is not None:
                shot = await send(
                    "Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}
                )
                screenshot.write_bytes(base64.b64decode(shot["data"]))
    return result


def _collect(message: dict[str, Any], result: PageResult) -> None:
    method = message.get("method")
    params = message.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        result.console_errors.append(json.dumps(params.get("args", []))[:300])
    elif method == "Runtime.exceptionThrown":
        details = params.get("exceptionDetails", {})
        description = details.get("exception", {}).get("description") or details.get("text")
        result.console_errors.append(str(description)[:300])
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        result.console_errors.append(str(params["entry"].get("text"))[:300])
