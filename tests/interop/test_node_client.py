"""Node's `ws` (npm, installed by ./dev into tests/interop/node_modules) as
the client of echo_server: the matrix of test_websockets_client.py, without
and with permessage-deflate (in combinations of ws's perMessageDeflate
options and of the server's flags). Each case is one run of ws_client.js
against a fresh server.

Run alone: /usr/bin/python3 tests/interop/test_node_client.py --build build-debug [--only CASE]
"""

import json
import os
import shutil
import signal
import sys

import harness

run = harness.Runner(__doc__)
NODE = shutil.which("node")
CLIENT = os.path.join(harness.HERE, "ws_client.js")


def check_setup():
    if NODE is None:
        sys.exit("node is missing: install nodejs (./dev deps)")
    if not os.path.isdir(os.path.join(harness.HERE, "node_modules", "ws")):
        sys.exit("the npm package ws is missing: ./dev deps installs it into tests/interop/node_modules")


def node_case(name, timeout, case=None, flags=(), deflate=None):
    """Run ws_client.js's `case` (default: `name`) against echo_server
    started with `flags`; with `deflate` (ws's perMessageDeflate options),
    every connection's answer is checked against what the server must answer
    to ws's offer (harness.deflate_answer)."""
    def body():
        with harness.Processes() as procs:
            server, port = procs.server([run.example("echo_server"), "--port", "0", *flags])
            extra = [json.dumps(deflate)] if deflate is not None else []
            client = procs.start([NODE, CLIENT, f"ws://127.0.0.1:{port}/", case or name, *extra],
                                 name="ws_client.js")
            rc = client.wait(timeout - 5)
            assert rc == 0, f"ws_client.js {case or name} exited with {rc}: {client.stderr().strip()}"
            if deflate is not None:
                answers = [line[len("extensions "):] for line in client.stdout().decode().splitlines()
                           if line.startswith("extensions ")]
                assert answers, "ws_client.js printed no 'extensions' line"
                for answer in answers:
                    harness.check_deflate_answer(None if answer == "none" else answer, ws_offer(deflate), flags)
            harness.stop_cleanly(server)
    run.case(name, timeout=timeout)(body)


def ws_offer(options):
    """What ws offers for its perMessageDeflate `options`, {param: value or
    None} (its PerMessageDeflate.offer()): client_max_window_bits without a
    value unless clientMaxWindowBits is a number or false."""
    offer = {}
    if options.get("serverNoContextTakeover"):
        offer["server_no_context_takeover"] = None
    if options.get("clientNoContextTakeover"):
        offer["client_no_context_takeover"] = None
    if options.get("serverMaxWindowBits"):
        offer["server_max_window_bits"] = str(options["serverMaxWindowBits"])
    if options.get("clientMaxWindowBits"):
        offer["client_max_window_bits"] = str(options["clientMaxWindowBits"])
    elif options.get("clientMaxWindowBits") is None:
        offer["client_max_window_bits"] = None
    return offer


for case in ["sizes-text", "sizes-binary", "pipelined-in-order", "fragmented", "ping", "close-client-first",
             "protocol-error"]:
    node_case(case, timeout=30)
node_case("size-16MiB-text", timeout=50)
node_case("size-16MiB-binary", timeout=50)

# threshold 0: ws compresses every message (its default is 1024 bytes and
# more). 3 MiB messages (deflate-big) in three rows only, for time. Only the options set are passed: ws fails the handshake on a
# client_no_context_takeover answer when clientNoContextTakeover is false
# (rather than absent). ws compresses with a window of 8 (Node's zlib makes
# it 9 for raw deflate, whose matches reach back 250 bytes at most).
ALL = {"threshold": 0}
for name, options, flags in [
    ("defaults", ALL, []),
    ("ask-no-context", {**ALL, "serverNoContextTakeover": True, "clientNoContextTakeover": True}, []),
    ("ask-windows-8", {**ALL, "serverMaxWindowBits": 8, "clientMaxWindowBits": 8}, []),
    ("ask-windows-9", {**ALL, "serverMaxWindowBits": 9, "clientMaxWindowBits": 9}, []),
    ("ask-windows-15", {**ALL, "serverMaxWindowBits": 15, "clientMaxWindowBits": 15}, []),
    ("ws-threshold", {}, []),
    ("server-client-window-8", ALL, ["--deflate-client-window", "8"]),
    ("server-all", {**ALL, "clientMaxWindowBits": 12},
     ["--deflate-server-window", "11", "--deflate-client-window", "10", "--deflate-server-no-context",
      "--deflate-client-no-context"]),
    # clientMaxWindowBits false: not offered, so a server limiting it declines.
    ("server-client-window-unoffered", {**ALL, "clientMaxWindowBits": False}, ["--deflate-client-window", "10"]),
    ("server-off", ALL, ["--no-deflate"]),
]:
    big = name in ("defaults", "ask-windows-8", "server-all")
    node_case(f"deflate-{name}", timeout=40, case="deflate-big" if big else "deflate", flags=flags, deflate=options)


@run.case("close-server-first")
def close_server_first():
    """SIGTERM the server once the client is open: ws sees Close 1001."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("echo_server"), "--port", "0"])
        client = procs.start([NODE, CLIENT, f"ws://127.0.0.1:{port}/", "server-close"], name="ws_client.js")
        client.wait_for_output(r"^open$")
        server.proc.send_signal(signal.SIGTERM)
        rc = client.wait(10)
        assert rc == 0, f"ws_client.js exited with {rc}: {client.stderr().strip()}"
        assert server.wait(10) == 0


if __name__ == "__main__":
    run.parse()
    check_setup()
    run.run()
