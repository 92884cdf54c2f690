"""Our client (examples/wscat on the epoll binding) against servers nobody
here wrote: Python `websockets` (py_echo_server.py) and Node `ws`
(ws_echo_server.js). Lines of every size out, echoes back on stdout, and each
way the connection can end, with wscat's exit status and message.

Run alone: /usr/bin/python3 tests/interop/test_wscat.py --build build-debug [--only 'node-*']
"""

import os
import re
import shutil
import signal
import subprocess
import sys

import harness
from harness import SIZES

harness.require_module("websockets", "python3-websockets")

run = harness.Runner(__doc__)
NODE = shutil.which("node")

SERVERS = {
    "py": [sys.executable, os.path.join(harness.HERE, "py_echo_server.py")],
    "node": [NODE, os.path.join(harness.HERE, "ws_echo_server.js")],
}



def in_force(answer, offer):
    """What wscat reports as agreed (bindings/README.md: every parameter in
    force, both windows spelled out) for the server's `answer` to `offer`:
    RFC 7692 §7.1.2, an absent window is 15 and the client's own window is
    also bounded by what it offered."""
    if answer is None:
        return "none"
    flags = "".join(f"; {f}" for f in ("server_no_context_takeover", "client_no_context_takeover") if f in answer)
    server = int(answer.get("server_max_window_bits") or 15)
    client = min(int(answer.get("client_max_window_bits") or 15), int((offer or {}).get("client_max_window_bits") or 15))
    return f"permessage-deflate{flags}; server_max_window_bits={server}; client_max_window_bits={client}"

def start_server(procs, impl, *flags):
    if impl == "node" and (NODE is None or not os.path.isdir(os.path.join(harness.HERE, "node_modules", "ws"))):
        raise AssertionError("node or the npm package ws is missing: ./dev deps installs them")
    return procs.server(SERVERS[impl] + list(flags), name=f"{impl}_echo_server")


def server_events(server):
    """What the server script logged, after it saw the connection end."""
    server.wait_for_output(r"^closed \S+\n")
    return server.stdout().decode().splitlines()[1:]


def wscat(procs, port, *flags):
    return procs.start([run.example("wscat"), *flags, f"ws://127.0.0.1:{port}/"], stdin=subprocess.PIPE)


def feed(client, data):
    """Write all of stdin (wscat's output is read meanwhile), then end it.
    wscat may have stopped reading already (a refused connection): fine."""
    try:
        client.stdin.write(data)
        client.stdin.close()
    except BrokenPipeError:
        pass


def text_lines(sizes):
    # Text with no newline in it: each piece is one line, one message.
    return [harness.payload_text(n, i).encode() for i, n in enumerate(sizes)]


def binary_lines(sizes):
    return [harness.payload_bytes(n, i).replace(b"\n", b"\x00") for i, n in enumerate(sizes)]


def lines_echoed(impl, lines, kind, flags=(), limit=20):
    """Every line goes out as one `kind` message and its echo comes back on
    its own line; then end of input makes wscat close with 1000 (the server
    logs it) and exit 0. Input ends only once the echoes are in: a server
    may drop the echoes of messages that were still queued when our Close
    arrived (Python websockets does), which is allowed (§7.1.2)."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl)
            client = wscat(procs, port, *flags)
            expected = b"".join(line + b"\n" for line in lines)
            client.stdin.write(expected)
            client.stdin.flush()
            harness.wait_until(lambda: len(client.stdout()) >= len(expected) or not client.running(), limit,
                               "the echoes")
            client.stdin.close()
            rc = client.wait(limit)
            assert rc == 0, f"wscat exited with {rc}: {client.stderr()}"
            out = client.stdout()
            assert out == expected, f"stdout differs: {len(out)} bytes, expected {len(expected)}"
            events = server_events(server)
            assert events == [f"message {kind} {len(line)}" for line in lines] + ["closed 1000"], events
    return body


def eof_at_once(impl, lines):
    """Input that ends right after the lines: every message is sent before
    the Close 1000 (the server logs them all, in order), every echo printed
    is whole, and wscat exits 0."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl)
            client = wscat(procs, port)
            feed(client, b"".join(line + b"\n" for line in lines))
            rc = client.wait(20)
            assert rc == 0, f"wscat exited with {rc}: {client.stderr()}"
            events = server_events(server)
            assert events == [f"message text {len(line)}" for line in lines] + ["closed 1000"], events
            printed = client.stdout().split(b"\n")
            assert printed[-1] == b"", "a partial line was printed"
            assert printed[:-1] == lines[:len(printed) - 1], "the echoes printed differ from the lines sent"
    return body


def server_closes_first(impl):
    """The server closes with 1001 after the first echo while wscat's input
    is still open: exit 3, and the code and reason on stderr."""
    def body():
        with harness.Processes() as procs:
            _, port = start_server(procs, impl, "--close-after-first")
            client = wscat(procs, port)
            client.stdin.write(b"hello\n")
            client.stdin.flush()
            rc = client.wait(10)
            assert client.stdout() == b"hello\n", client.stdout()
            assert rc == 3, f"wscat exited with {rc}, expected 3: {client.stderr()}"
            assert re.search(r"1001.*server going away", client.stderr()), client.stderr()
    return body


def protocol_error(impl, bad):
    """The server answers with a frame no server may send: wscat closes with
    1002 (the server logs it), says so, and exits 1."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl, "--bad-frame", bad)
            client = wscat(procs, port)
            client.stdin.write(b"provoke\n")
            client.stdin.flush()
            rc = client.wait(10)
            assert rc == 1, f"wscat exited with {rc}, expected 1: {client.stderr()}"
            assert "1002" in client.stderr(), client.stderr()
            assert server_events(server)[-1] == "closed 1002", server.stdout()
    return body


def interrupted(impl):
    """SIGINT: wscat closes with 1001 (the server logs it) and exits 130."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl)
            client = wscat(procs, port)
            client.stdin.write(b"hello\n")
            client.stdin.flush()
            client.wait_for_output(r"^hello$")
            client.proc.send_signal(signal.SIGINT)
            rc = client.wait(10)
            assert rc == 130, f"wscat exited with {rc}, expected 130: {client.stderr()}"
            assert server_events(server)[-1] == "closed 1001", server.stdout()
    return body


def server_vanishes(impl):
    """The server is killed (no Close, TCP reset or closed by the kernel):
    wscat says the connection was lost and exits 1."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl)
            client = wscat(procs, port)
            client.stdin.write(b"hello\n")
            client.stdin.flush()
            client.wait_for_output(r"^hello$")
            server.proc.kill()
            rc = client.wait(10)
            assert rc == 1, f"wscat exited with {rc}, expected 1: {client.stderr()}"
            assert "lost" in client.stderr(), client.stderr()
    return body


def rejected(impl):
    """A handshake refused with HTTP 403: exit 1, the status on stderr."""
    def body():
        with harness.Processes() as procs:
            _, port = start_server(procs, impl, "--reject", "403")
            client = wscat(procs, port)
            feed(client, b"never sent\n")
            rc = client.wait(10)
            assert rc == 1, f"wscat exited with {rc}, expected 1: {client.stderr()}"
            assert "403" in client.stderr(), client.stderr()
            assert client.stdout() == b""
    return body


def deflate_lines(impl, spec, flags, answer, binary=False):
    """permessage-deflate between wscat (offering per `flags`) and a peer
    server configured by `spec` (its --deflate; the Node server then
    compresses every message, as websockets always does): the server got
    the offer harness.wscat_offer says; wscat prints the answer the server
    logs, which is `answer` ({param: value or None}, None: declined); every
    line comes back exactly. What arrived compressed (the
    server logs it): nothing when wscat may not compress (declined, or a
    client window of 8: zlib has no 256-byte window), else at least each
    message of 1 KiB or more."""
    def body():
        with harness.Processes() as procs:
            server, port = start_server(procs, impl, "--deflate", spec)
            client = wscat(procs, port, *flags, *(["--binary"] if binary else []))
            sizes = [0, 1, 63, 64, 125, 126, 1000, 1024, 65535, 65536, 2 << 20]
            # The same line twice: with the context kept, the second refers
            # back to the first, further than a small window reaches; a
            # peer that inflates each message in one call (websockets) holds
            # wscat to the agreed window only across messages.
            again = harness.payload_text(4000, 99).encode()
            lines = (binary_lines if binary else text_lines)(sizes[:-1]) + [again, again]
            lines += [harness.payload_json(n, 1).encode() for n in sizes]
            expected = b"".join(line + b"\n" for line in lines)
            try:
                client.stdin.write(expected)
                client.stdin.flush()
                harness.wait_until(lambda: len(client.stdout()) >= len(expected) or not client.running(), 20,
                                   "the echoes")
                client.stdin.close()
            except BrokenPipeError:
                pass  # wscat is gone already: its status says why
            rc = client.wait(20)
            assert rc == 0, f"wscat exited with {rc}: {client.stderr()}"
            out = client.stdout()
            assert out == expected, f"stdout differs: {len(out)} bytes, expected {len(expected)}"
            events = server_events(server)
            offered = events[0].removeprefix("open-offer ")
            offer = harness.wscat_offer(flags)
            assert harness.parse_extensions(offered) == ([] if offer is None else [("permessage-deflate", offer)]), \
                f"wscat {' '.join(flags)} offered {offered!r}, expected {offer}"
            sent = events[1].removeprefix("open-extensions ")
            want = [] if answer is None else [("permessage-deflate", answer)]
            assert harness.parse_extensions(sent) == want, f"{impl} server answered {sent!r}, expected {want}"
            said = re.search(r"^wscat: extensions: (.*)$", client.stderr(), re.M)
            assert said, f"no 'wscat: extensions:' line: {client.stderr()}"
            assert said.group(1) == in_force(answer, offer), \
                f"wscat printed {said.group(1)!r}; the {impl} server answered {sent!r}"
            kind = "binary" if binary else "text"
            messages = events[2:-1]
            assert [m.rsplit(" ", 1)[0] for m in messages] == [f"message {kind} {len(line)}" for line in lines], \
                messages
            assert events[-1] == "closed 1000", events
            may_compress = answer is not None and answer.get("client_max_window_bits") != "8"
            for line, m in zip(lines, messages):
                if not may_compress:
                    assert m.endswith(" plain"), f"{m}: wscat compressed without a window to do it in"
                elif len(line) >= 1024 and not binary:
                    assert m.endswith(" deflated"), f"{m}: wscat did not compress it"
    return body


# (name, impl, the server's --deflate, wscat's flags, the answer expected).
# What the peers answer: websockets and ws accept wscat's default offer
# ("client_max_window_bits" without a value) with a bare permessage-deflate;
# both repeat the no_context_takeover flags offered; ws answers 400 (not a
# declined extension) when it cannot meet an offer (a window asked below its
# own limit), so there are no such rows here.
W = "server_max_window_bits"
C = "client_max_window_bits"
DEFLATE_ROWS = [
    ("py-deflate-defaults", "py", "default", [], {}),
    ("py-deflate-server-windows", "py", f"{W}=10,{C}=9", [], {W: "10", C: "9"}),
    ("py-deflate-server-no-context", "py", "server_no_context_takeover,client_no_context_takeover", [],
     {"server_no_context_takeover": None, "client_no_context_takeover": None}),
    ("py-deflate-client-window", "py", f"{C}=10,require_client_max_window_bits",
     ["--deflate-client-window", "11"], {C: "10"}),
    ("py-deflate-client-asks-windows", "py", "default", ["--deflate-server-window", "9", "--deflate-client-window", "12"],
     {W: "9", C: "12"}),
    ("py-deflate-client-asks-no-context", "py", "default", ["--deflate-server-no-context", "--deflate-client-no-context"],
     {"server_no_context_takeover": None, "client_no_context_takeover": None}),
    ("py-deflate-client-off", "py", f"{C}=9,require_client_max_window_bits", ["--no-deflate"], None),
    ("py-deflate-server-off", "py", "off", [], None),
    ("node-deflate-defaults", "node", "default", [], {}),
    ("node-deflate-window-8", "node", "serverMaxWindowBits=8,clientMaxWindowBits=8", [], {W: "8", C: "8"}),
    ("node-deflate-server-no-context", "node", "serverNoContextTakeover,clientNoContextTakeover", [],
     {"server_no_context_takeover": None, "client_no_context_takeover": None}),
    ("node-deflate-server-window", "node", "serverMaxWindowBits=10", ["--deflate-server-window", "12"], {W: "10"}),
    ("node-deflate-client-window", "node", "clientMaxWindowBits=9", ["--deflate-client-window", "12"], {C: "9"}),
    ("node-deflate-client-offers-8", "node", "default", ["--deflate-client-window", "8", "--deflate-server-no-context"],
     {"server_no_context_takeover": None, C: "8"}),
    ("node-deflate-threshold-1024", "node", "threshold=1024", [], {}),
    ("node-deflate-server-off", "node", "off", [], None),
    ("node-deflate-client-off", "node", "default", ["--no-deflate"], None),
]
for name, impl, spec, flags, answer in DEFLATE_ROWS:
    run.case(name)(deflate_lines(impl, spec, flags, answer))
run.case("py-deflate-binary")(deflate_lines("py", "default", [], {}, binary=True))
run.case("node-deflate-binary")(deflate_lines("node", "serverMaxWindowBits=9,clientMaxWindowBits=9", [],
                                              {W: "9", C: "9"}, binary=True))


small = [s for s in SIZES if s < 1 << 20]
for impl in SERVERS:
    run.case(f"{impl}-text-lines")(lines_echoed(impl, text_lines(small), "text"))
    run.case(f"{impl}-binary-lines")(lines_echoed(impl, binary_lines(small), "binary", ["--binary"]))
    run.case(f"{impl}-16MiB-line", timeout=50)(lines_echoed(impl, text_lines([16 << 20]), "text", limit=40))
    run.case(f"{impl}-eof-at-once")(eof_at_once(impl, text_lines([100, 0, 70000] * 10)))
    run.case(f"{impl}-server-closes-first")(server_closes_first(impl))
    run.case(f"{impl}-protocol-error-masked")(protocol_error(impl, "masked"))
    run.case(f"{impl}-protocol-error-reserved-opcode")(protocol_error(impl, "reserved"))
    run.case(f"{impl}-rejected-403")(rejected(impl))
    run.case(f"{impl}-interrupted")(interrupted(impl))
    run.case(f"{impl}-server-vanishes")(server_vanishes(impl))


@run.case("py-subprotocol-and-header")
def subprotocol_and_header():
    """--subprotocol offers (the server picks the one it knows) and --header
    adds a request field."""
    with harness.Processes() as procs:
        server, port = start_server(procs, "py", "--subprotocol", "chat.v2")
        client = wscat(procs, port, "--subprotocol", "chat.v1", "--subprotocol", "chat.v2",
                       "--header", "X-Test: from wscat")
        feed(client, b"")
        rc = client.wait(10)
        assert rc == 0, f"wscat exited with {rc}: {client.stderr()}"
        assert server_events(server) == ["open chat.v2 from wscat", f"open-host 127.0.0.1:{port} origin none",
                                         "closed 1000"], server.stdout()


@run.case("py-header-host-and-origin-replace")
def header_host_and_origin():
    """--header 'Host: …' and 'Origin: …' replace the request's own fields
    (one Host line, as Node's wscat sends), never add a second one."""
    with harness.Processes() as procs:
        server, port = start_server(procs, "py", "--subprotocol", "chat")
        client = wscat(procs, port, "--header", "Host: example.test", "--header", "Origin: http://example.test")
        feed(client, b"")
        rc = client.wait(10)
        assert rc == 0, f"wscat exited with {rc}: {client.stderr()}"
        assert "open-host example.test origin http://example.test" in server_events(server), server.stdout()


@run.case("header-handshake-field-refused")
def header_handshake_field_refused():
    """A --header naming a field the handshake writes itself (a second key)
    is refused before connecting: a usage error (exit 2) naming it."""
    with harness.Processes() as procs:
        client = wscat(procs, harness.free_port(), "--header", "Sec-WebSocket-Key: AAAAAAAAAAAAAAAAAAAAAA==")
        feed(client, b"")
        rc = client.wait(10)
        assert rc == 2, f"wscat exited with {rc}, expected 2: {client.stderr()}"
        assert "Sec-WebSocket-Key" in client.stderr() and "handshake" in client.stderr(), client.stderr()


@run.case("connection-refused")
def refused():
    """Nothing listens on the port: exit 1 with a message that says so."""
    with harness.Processes() as procs:
        client = wscat(procs, harness.free_port())
        feed(client, b"")
        rc = client.wait(10)
        assert rc == 1, f"wscat exited with {rc}, expected 1: {client.stderr()}"
        assert "refused" in client.stderr().lower(), client.stderr()


if __name__ == "__main__":
    run.run()
