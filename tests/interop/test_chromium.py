"""A real browser against chat_server: headless Chromium opens the chat page
in two tabs, each tab sends a message through the page's own form, and both
tabs' message lists must show both messages, in the same order. Then the
server is stopped and the remaining tab must show the 1001 close. The pages
are driven through the DevTools protocol (CDP), spoken here with Python
`websockets`. Chromium offers "permessage-deflate; client_max_window_bits":
each page's `ws.extensions` (the whole answer, in Chromium) must be what
chat_server answers with its flags, and empty with --no-deflate.

Skipped (exit 77) when Debian's chromium is not installed.

Run alone: /usr/bin/python3 tests/interop/test_chromium.py --build build-debug
"""

import asyncio
import itertools
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import harness

websockets = harness.require_module("websockets", "python3-websockets")

run = harness.Runner(__doc__)
CHROMIUM = shutil.which("chromium")


class Browser:
    """Headless Chromium in its own process group (it starts helper processes
    of its own), with a fresh profile; `close()` ends the whole group."""

    def __init__(self):
        self.profile = tempfile.mkdtemp(prefix="sansws-chromium-")
        # Chromium is chatty on stderr even when all is well (D-Bus, GPU):
        # kept in a file, shown only when it does not start.
        self.log_path = os.path.join(self.profile, "chromium.log")
        with open(self.log_path, "wb") as log:
            # As root it needs --no-sandbox; the rest keeps it off the network
            # and quiet. Port 0: Chromium picks one and writes it to
            # DevToolsActivePort in the profile.
            self.proc = subprocess.Popen(
                [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={self.profile}", "--remote-debugging-port=0",
                 "about:blank"],
                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=log, start_new_session=True)

    def devtools_port(self, timeout=30):
        path = os.path.join(self.profile, "DevToolsActivePort")
        try:
            harness.wait_until(lambda: os.path.exists(path) and open(path).read().count("\n") >= 1, timeout,
                               "Chromium's DevToolsActivePort")
        except AssertionError:
            with open(self.log_path, errors="replace") as log:
                raise AssertionError(f"Chromium did not start (exit status {self.proc.poll()}); "
                                     f"its stderr ends with:\n{log.read()[-3000:]}") from None
        return int(open(path).read().split("\n")[0])

    def close(self):
        try:
            os.killpg(self.proc.pid, signal.SIGTERM)
            self.proc.wait(10)
        except (ProcessLookupError, subprocess.TimeoutExpired):
            pass
        try:
            os.killpg(self.proc.pid, signal.SIGKILL)  # helpers that outlived the browser
        except ProcessLookupError:
            pass
        self.proc.wait()
        shutil.rmtree(self.profile, ignore_errors=True)


class DevTools:
    """One CDP connection to the browser; `call` sends a command (to a page
    when given its session) and returns its result. Events are not needed."""

    def __init__(self, ws):
        self.ws = ws
        self.ids = itertools.count(1)
        self.waiting = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self):
        async for raw in self.ws:
            msg = json.loads(raw)
            future = self.waiting.pop(msg.get("id"), None)
            if future and not future.done():
                future.set_result(msg)

    async def call(self, method, session=None, **params):
        n = next(self.ids)
        future = asyncio.get_running_loop().create_future()
        self.waiting[n] = future
        msg = {"id": n, "method": method, "params": params}
        if session:
            msg["sessionId"] = session
        await self.ws.send(json.dumps(msg))
        reply = await asyncio.wait_for(future, 10)
        if "error" in reply:
            raise AssertionError(f"{method} failed: {reply['error']}")
        return reply["result"]

    async def evaluate(self, session, expression):
        result = await self.call("Runtime.evaluate", session, expression=expression, returnByValue=True)
        if "exceptionDetails" in result:
            raise AssertionError(f"{expression!r} threw: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, session, expression, what, timeout=15):
        """Poll `expression` in the page until it is truthy; its value."""
        deadline = time.monotonic() + timeout
        while True:
            value = await self.evaluate(session, expression)
            if value:
                return value
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)


MESSAGES_JS = "JSON.stringify([...document.querySelectorAll('#messages li')].map(li => li.textContent))"


def send_js(text):
    # Through the page's own form, as a person would.
    return (f"document.getElementById('input').value = {json.dumps(text)};"
            "document.getElementById('form').requestSubmit(); true")


# What Chromium offers (checked on Chromium 156 against a websockets server).
CHROMIUM_OFFER = {"client_max_window_bits": None}

# The third message is long and repetitive: chat_server compresses what it
# sends from 64 bytes on, and Chromium whatever it likes.
SAID = ["hello from tab A", "héllo from tab B 😀", "long from tab A: " + "lorem ipsum dolor sit amet " * 80]


def two_tabs_chat(flags):
    def body():
        with harness.Processes() as procs:
            server, port = procs.server([run.example("chat_server"), "--port", "0", *flags])
            browser = Browser()
            try:
                chat(browser, server, port, flags)
                assert server.wait(10) == 0, f"chat_server exited with {server.proc.returncode}"
            finally:
                browser.close()
    return body


def chat(browser, server, port, flags):
    devtools_port = browser.devtools_port()
    with urllib.request.urlopen(f"http://127.0.0.1:{devtools_port}/json/version", timeout=10) as r:
        browser_ws = json.load(r)["webSocketDebuggerUrl"]

    async def go():
        async with websockets.connect(browser_ws, max_size=None, ping_interval=None) as ws:
            cdp = DevTools(ws)
            tabs = []
            for _ in range(2):
                target = await cdp.call("Target.createTarget", url=f"http://127.0.0.1:{port}/")
                attached = await cdp.call("Target.attachToTarget", targetId=target["targetId"], flatten=True)
                tabs.append(attached["sessionId"])
            for tab in tabs:
                await cdp.wait_for(tab, "document.body?.dataset.state === 'open'", "the page's WebSocket")
                # The page's top-level `const ws`.
                answer = await cdp.evaluate(tab, "ws.extensions")
                harness.check_deflate_answer(answer or None, CHROMIUM_OFFER, flags)

            for tab, text in zip(tabs + tabs[:1], SAID):
                await cdp.evaluate(tab, send_js(text))
            lists = []
            for tab in tabs:
                shown = await cdp.wait_for(tab, f"document.querySelectorAll('#messages li').length >= {len(SAID)}"
                                           f" && {MESSAGES_JS}", "every message in the page")
                lists.append(json.loads(shown))
            assert sorted(lists[0]) == sorted(SAID), f"tab A shows {lists[0]}"
            assert lists[0] == lists[1], f"the tabs disagree: {lists}"

            # Stopping the server closes every socket with 1001; the page says so.
            server.proc.send_signal(signal.SIGTERM)
            status = await cdp.wait_for(tabs[1], "document.body.dataset.state === 'closed' && "
                                        "document.getElementById('status').textContent",
                                        "the page to see the close")
            assert "1001" in status, f"the page shows {status!r}"
            cdp.reader.cancel()
    asyncio.run(go())


run.case("two-tabs-chat", timeout=60)(two_tabs_chat([]))
run.case("two-tabs-chat-deflate-limits", timeout=60)(two_tabs_chat(
    ["--deflate-server-window", "10", "--deflate-client-window", "9", "--deflate-server-no-context"]))
run.case("two-tabs-chat-no-deflate", timeout=60)(two_tabs_chat(["--no-deflate"]))


if __name__ == "__main__":
    run.parse()
    if CHROMIUM is None:
        print("SKIP: chromium is not installed (Debian's chromium; ./dev deps installs it)")
        sys.exit(harness.SKIP)
    run.run()
