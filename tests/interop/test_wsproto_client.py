"""Python `wsproto` (a sans-I/O implementation, like ours) as the client of
echo_server, driven over a plain blocking socket: sizes, fragments, pings
and both close directions; then all of it with wsproto's permessage-deflate
(wsproto.extensions.PerMessageDeflate) in a few combinations.

Run alone: /usr/bin/python3 tests/interop/test_wsproto_client.py --build build-debug [--only CASE]
"""

import collections
import signal
import socket

import harness

harness.require_module("wsproto", "python3-wsproto")
from wsproto import ConnectionType, WSConnection  # noqa: E402
from wsproto.events import (AcceptConnection, BytesMessage, CloseConnection, Ping, Pong,  # noqa: E402
                            Request, TextMessage)
from wsproto.extensions import PerMessageDeflate  # noqa: E402

run = harness.Runner(__doc__)


class Client:
    """A wsproto connection on a socket: `send` events, `next_event` and
    `message` block (with the socket's timeout) until the server says more."""

    def __init__(self, port, extensions=()):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending = collections.deque()
        self.send(Request(host=f"127.0.0.1:{port}", target="/", extensions=list(extensions)))
        # wsproto keeps Sec-WebSocket-Extensions to itself: read the response
        # head as it arrives to see the answer.
        head = bytearray()
        while not self.pending:
            data = self.sock.recv(1 << 16)
            if not data:
                raise EOFError("connection closed during the handshake")
            head += data
            self.ws.receive_data(data)
            self.pending.extend(self.ws.events())
        event = self.pending.popleft()
        assert isinstance(event, AcceptConnection), f"handshake answered with {event}"
        fields = [line.split(":", 1) for line in head.split(b"\r\n\r\n")[0].decode().split("\r\n")[1:]]
        answers = [value.strip() for name, value in fields if name.strip().lower() == "sec-websocket-extensions"]
        self.extensions_answer = ", ".join(answers) if answers else None
        self.accepted = event.extensions

    def send(self, event):
        self.sock.sendall(self.ws.send(event))

    def next_event(self):
        while not self.pending:
            data = self.sock.recv(1 << 16)
            self.ws.receive_data(data or None)  # None: the server closed TCP
            self.pending.extend(self.ws.events())
            if not data and not self.pending:
                raise EOFError("connection closed with no event")
        return self.pending.popleft()

    def message(self):
        """The next whole message (wsproto hands it over in pieces), as str or bytes."""
        parts = []
        kind = None
        while True:
            event = self.next_event()
            assert isinstance(event, (TextMessage, BytesMessage)), f"expected a message, got {event}"
            kind = kind or type(event)
            assert type(event) is kind, f"a {kind.__name__} continued as {type(event).__name__}"
            parts.append(event.data)
            if event.message_finished:
                # wsproto hands binary data over as bytearray.
                return "".join(parts) if kind is TextMessage else b"".join(parts)

    def close(self):
        self.sock.close()


def with_client(body, flags=(), extensions=()):
    """A fresh server (started with `flags`) and client (offering
    `extensions`) for `body(client, server)`; the server must still exit
    cleanly afterwards."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("echo_server"), "--port", "0", *flags])
        client = Client(port, extensions)
        try:
            body(client, server)
        finally:
            client.close()
        harness.stop_cleanly(server)


SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


def sizes_text(c, _, make=harness.payload_text):
    for size in SIZES:
        text = make(size)
        c.send(TextMessage(data=text))
        assert c.message() == text, f"text of {size} bytes not echoed exactly"


def sizes_binary(c, _):
    for size in SIZES:
        data = harness.payload_bytes(size)
        c.send(BytesMessage(data=data))
        got = c.message()
        assert isinstance(got, bytes), "binary echoed as text"
        assert got == data, f"binary of {size} bytes not echoed exactly"


def fragmented(c, _):
    """A text and a binary message in several frames each (empty ones too),
    with a Ping between fragments: answered before the message ends."""
    text_parts = ["", "héllo ", harness.payload_text(70000), "😀"]
    for i, part in enumerate(text_parts):
        c.send(TextMessage(data=part, message_finished=i == len(text_parts) - 1))
    assert c.message() == "".join(text_parts)

    data_parts = [b"\x00" * 10, b"", harness.payload_bytes(300)]
    c.send(BytesMessage(data=data_parts[0], message_finished=False))
    c.send(Ping(payload=b"between"))
    c.send(BytesMessage(data=data_parts[1], message_finished=False))
    c.send(BytesMessage(data=data_parts[2], message_finished=True))
    pong = c.next_event()
    assert isinstance(pong, Pong) and pong.payload == b"between", f"expected the Pong first, got {pong}"
    assert c.message() == b"".join(data_parts)


def ping(c, _):
    for payload in (b"", b"1", bytes(range(125))):
        c.send(Ping(payload=payload))
        event = c.next_event()
        assert isinstance(event, Pong) and event.payload == payload, f"got {event}"


def close_client_first(c, _):
    """Our Close 1000 is answered with 1000, then the server closes TCP."""
    c.send(CloseConnection(code=1000, reason="done"))
    event = c.next_event()
    assert isinstance(event, CloseConnection) and event.code == 1000, f"got {event}"
    assert c.sock.recv(16) == b"", "TCP still open after the close handshake"


run.case("sizes-text")(lambda: with_client(sizes_text))
run.case("sizes-binary")(lambda: with_client(sizes_binary))
run.case("fragmented")(lambda: with_client(fragmented))
run.case("ping")(lambda: with_client(ping))
run.case("close-client-first")(lambda: with_client(close_client_first))


def deflate_row(make_extension, flags):
    """With `make_extension()` offered: the server's answer is what it must
    answer to wsproto's offer (which always names both windows, 15 unless
    set), wsproto took it, and all of the above passes on one connection,
    JSON-like text too."""
    def body(c, server):
        offer = harness.parse_extensions("permessage-deflate; " + make_extension().offer())[0][1]
        params = harness.check_deflate_answer(c.extensions_answer, offer, flags)
        assert len(c.accepted) == (params is not None), f"wsproto runs {c.accepted}"
        sizes_text(c, server)
        sizes_text(c, server, harness.payload_json)
        for step in (sizes_binary, fragmented, ping, close_client_first):
            step(c, server)
    return lambda: with_client(body, flags, [make_extension()])


# wsproto's windows go from 9 to 15: it also fails (ValueError in its
# handshake code) on an answer of 8, so no server here runs with
# --deflate-server-window 8.
for name, make_extension, flags in [
    ("defaults", PerMessageDeflate, []),
    ("ask-all", lambda: PerMessageDeflate(client_no_context_takeover=True, client_max_window_bits=9,
                                          server_no_context_takeover=True, server_max_window_bits=9), []),
    ("server-policy", PerMessageDeflate, ["--deflate-server-window", "10", "--deflate-client-window", "11",
                                          "--deflate-server-no-context"]),
    ("server-window-9", lambda: PerMessageDeflate(client_max_window_bits=12), ["--deflate-server-window", "9",
                                                                               "--deflate-client-no-context"]),
    ("server-off", PerMessageDeflate, ["--no-deflate"]),
]:
    run.case(f"deflate-{name}")(deflate_row(make_extension, flags))


@run.case("close-server-first")
def close_server_first():
    """SIGTERM: the server sends Close 1001; once we answer, it closes TCP and exits 0."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("echo_server"), "--port", "0"])
        c = Client(port)
        try:
            server.proc.send_signal(signal.SIGTERM)
            event = c.next_event()
            assert isinstance(event, CloseConnection) and event.code == 1001, f"got {event}"
            c.send(event.response())
            assert c.sock.recv(16) == b"", "TCP still open after the close handshake"
        finally:
            c.close()
        assert server.wait(10) == 0


if __name__ == "__main__":
    run.run()
