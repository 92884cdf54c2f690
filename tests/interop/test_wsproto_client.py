"""Python `wsproto` (a sans-I/O implementation, like ours) as the client of
echo_server, driven over a plain blocking socket: sizes, fragments, pings
and both close directions.

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

run = harness.Runner(__doc__)


class Client:
    """A wsproto connection on a socket: `send` events, `next_event` and
    `message` block (with the socket's timeout) until the server says more."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.ws = WSConnection(ConnectionType.CLIENT)
        self.pending = collections.deque()
        self.send(Request(host=f"127.0.0.1:{port}", target="/"))
        event = self.next_event()
        assert isinstance(event, AcceptConnection), f"handshake answered with {event}"

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


def with_client(body):
    """A fresh server and client for `body(client, server)`; the server must
    still exit cleanly afterwards."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("echo_server"), "--port", "0"])
        client = Client(port)
        try:
            body(client, server)
        finally:
            client.close()
        harness.stop_cleanly(server)


SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


@run.case("sizes-text")
def sizes_text():
    def body(c, _):
        for size in SIZES:
            text = harness.payload_text(size)
            c.send(TextMessage(data=text))
            assert c.message() == text, f"text of {size} bytes not echoed exactly"
    with_client(body)


@run.case("sizes-binary")
def sizes_binary():
    def body(c, _):
        for size in SIZES:
            data = harness.payload_bytes(size)
            c.send(BytesMessage(data=data))
            got = c.message()
            assert isinstance(got, bytes), "binary echoed as text"
            assert got == data, f"binary of {size} bytes not echoed exactly"
    with_client(body)


@run.case("fragmented")
def fragmented():
    """A text and a binary message in several frames each (empty ones too),
    with a Ping between fragments: answered before the message ends."""
    def body(c, _):
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
    with_client(body)


@run.case("ping")
def ping():
    def body(c, _):
        for payload in (b"", b"1", bytes(range(125))):
            c.send(Ping(payload=payload))
            event = c.next_event()
            assert isinstance(event, Pong) and event.payload == payload, f"got {event}"
    with_client(body)


@run.case("close-client-first")
def close_client_first():
    """Our Close 1000 is answered with 1000, then the server closes TCP."""
    def body(c, _):
        c.send(CloseConnection(code=1000, reason="done"))
        event = c.next_event()
        assert isinstance(event, CloseConnection) and event.code == 1000, f"got {event}"
        assert c.sock.recv(16) == b"", "TCP still open after the close handshake"
    with_client(body)


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
