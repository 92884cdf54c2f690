"""Python `websockets` (Debian's 10.4, asyncio API) as the client of our echo
server: every message size and type echoed exactly, fragmented messages,
pings, and each way a connection ends. What websockets will not send (bad
frames) goes over a raw socket after a real handshake.

Run alone: /usr/bin/python3 tests/interop/test_websockets_client.py \
    --build build-debug [--server libuv_echo] [--only CASE] [--list]
"""

import asyncio
import signal
import time

import harness
from harness import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, SIZES, encode_frame

websockets = harness.require_module("websockets", "python3-websockets")

run = harness.Runner(__doc__)
run.parser.add_argument("--server", default="echo_server", choices=["echo_server", "libuv_echo"],
                        help="which echo server to test (both take the same flags)")


def with_server(body, extra_args=()):
    """Run `body(port, server)` against a fresh server, then require a clean
    exit on SIGTERM (where sanitizer builds report leaks)."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example(run.args.server), "--port", "0", *extra_args])
        body(port, server)
        harness.stop_cleanly(server)


def connect(port):
    # No keep-alive pings (they would interleave with what a case checks);
    # room for 16 MiB messages. permessage-deflate stays offered: the server
    # must decline it.
    return websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, ping_interval=None,
                              close_timeout=5, open_timeout=10)


def check_echo(sent, got):
    assert type(got) is type(sent), f"sent {type(sent).__name__}, echoed as {type(got).__name__}"
    if got != sent:
        raw_sent = sent.encode() if isinstance(sent, str) else sent
        raw_got = got.encode() if isinstance(got, str) else got
        first = next((i for i, (a, b) in enumerate(zip(raw_sent, raw_got)) if a != b),
                     min(len(raw_sent), len(raw_got)))
        raise AssertionError(f"echo of {len(raw_sent)} bytes differs: got {len(raw_got)} bytes, "
                             f"first difference at byte {first}")


def echo_sizes(make, sizes):
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                assert ws.extensions == [], f"server accepted extensions {ws.extensions}"
                for size in sizes:
                    msg = make(size)
                    await ws.send(msg)
                    check_echo(msg, await ws.recv())
                await ws.close()
                assert ws.close_code == 1000
        asyncio.run(go())
    return body


small = [s for s in SIZES if s < 1 << 20]
run.case("sizes-text")(lambda: with_server(echo_sizes(harness.payload_text, small)))
run.case("sizes-binary")(lambda: with_server(echo_sizes(harness.payload_bytes, small)))
run.case("size-16MiB-text", timeout=50)(lambda: with_server(echo_sizes(harness.payload_text, [16 << 20])))
run.case("size-16MiB-binary", timeout=50)(lambda: with_server(echo_sizes(harness.payload_bytes, [16 << 20])))


@run.case("pipelined-in-order")
def pipelined():
    """Many messages of mixed types sent before reading any echo: all come
    back, in order, each as its own type."""
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                msgs = [harness.payload_text(i * 37, i) if i % 2 else harness.payload_bytes(i * 53, i)
                        for i in range(300)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    check_echo(m, await ws.recv())
        asyncio.run(go())
    with_server(body)


def fragmented(fragments):
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                await ws.send(fragments)
                whole = fragments[0][:0].join(fragments)
                check_echo(whole, await ws.recv())
        asyncio.run(go())
    return body


# Empty fragments, a fragment needing the 64-bit length, and text split
# between characters of every width.
run.case("fragmented-text")(lambda: with_server(fragmented(
    ["", "é", harness.payload_text(70000, 1), "", "😀€", "x"])))
run.case("fragmented-binary")(lambda: with_server(fragmented(
    [b"", b"\x00", harness.payload_bytes(70000, 1), b"", b"\xff" * 125])))


@run.case("fragmented-with-pings")
def fragmented_with_pings():
    """Control frames may come between the fragments of a message (§5.4):
    each ping is answered at once, and the message still arrives whole."""
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                parts = [harness.payload_bytes(n, n) for n in (10, 200, 70000, 3)]
                pongs = []

                async def fragments_and_pings():
                    for i, part in enumerate(parts):
                        yield part
                        pongs.append(await ws.ping(f"mid-{i}"))
                # The pongs come back while the message is still open.
                await ws.send(fragments_and_pings())
                await asyncio.wait_for(asyncio.gather(*pongs), 5)
                check_echo(b"".join(parts), await ws.recv())
        asyncio.run(go())
    with_server(body)


@run.case("ping-pong")
def ping_pong():
    """Pings of 0, 1 and 125 bytes (the largest control payload), several in
    flight at once: each answered with a Pong carrying the same data."""
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                for data in (b"", b"p", harness.payload_bytes(125)):
                    await asyncio.wait_for(await ws.ping(data), 5)
                waiters = [await ws.ping(f"{i:04d}") for i in range(20)]
                await asyncio.wait_for(asyncio.gather(*waiters), 5)
                latency = await asyncio.wait_for(await ws.ping(), 5)
                assert latency is None or latency < 1, f"pong took {latency} s"
        asyncio.run(go())
    with_server(body)


@run.case("ipv6-loopback")
def ipv6():
    """Listening on ::1 (--host), reached at ws://[::1]:PORT/."""
    def body(port, _server):
        async def go():
            async with websockets.connect(f"ws://[::1]:{port}/", ping_interval=None) as ws:
                await ws.send("over IPv6")
                assert await ws.recv() == "over IPv6"
        asyncio.run(go())
    with_server(body, ("--host", "::1"))


@run.case("close-client-first")
def close_client_first():
    """We close with 1000: the server answers 1000 (so it read our code) and
    then closes TCP itself, promptly (§7.1.1)."""
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                await ws.send("last")
                assert await ws.recv() == "last"
                start = time.monotonic()
                await ws.close(1000, "client done")
                took = time.monotonic() - start
                assert ws.close_sent.code == 1000
                assert ws.close_rcvd is not None, "no Close from the server"
                assert ws.close_rcvd.code == 1000, f"server answered {ws.close_rcvd}"
                # close_timeout is 5 s: a server that left TCP open would show here.
                assert took < 2, f"closing took {took:.2f} s"
                assert ws.transport.is_closing()
        asyncio.run(go())
    with_server(body)


@run.case("close-client-first-4000")
def close_client_first_app_code():
    """An application code (4000-4999) with a long reason: the server echoes
    the code (§5.5.1) and closes."""
    def body(port, _server):
        async def go():
            async with connect(port) as ws:
                await ws.close(4321, "é" * 60)
                assert ws.close_rcvd is not None and ws.close_rcvd.code == 4321, ws.close_rcvd
        asyncio.run(go())
    with_server(body)


@run.case("close-server-first")
def close_server_first():
    """SIGTERM makes the server close every connection with 1001 (going
    away); the client answers, and the server exits 0."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example(run.args.server), "--port", "0"])

        async def go():
            async with connect(port) as ws:
                await ws.send(b"before")
                assert await ws.recv() == b"before"
                server.proc.send_signal(signal.SIGTERM)
                try:
                    await asyncio.wait_for(ws.recv(), 5)
                    raise AssertionError("a message came instead of the Close")
                except websockets.ConnectionClosed as e:
                    assert e.rcvd is not None, f"no Close frame from the server: {e}"
                    assert e.rcvd.code == 1001, f"server closed with {e.rcvd}"
                    assert e.sent is not None and e.sent.code == 1001, f"we answered {e.sent}"
        asyncio.run(go())
        assert server.wait(10) == 0, f"server exit status {server.proc.returncode}"


def protocol_error(frames, code, extra_args=()):
    """After a valid handshake, send hand-made `frames`: the server must answer
    with a Close carrying `code` and close TCP, and keep serving others."""
    def body(port, _server):
        sock = harness.raw_handshake(port)
        try:
            sock.sendall(b"".join(frames))
            harness.expect_close(sock, code)
        finally:
            sock.close()

        async def still_serving():
            async with connect(port) as ws:
                await ws.send("still there?")
                assert await ws.recv() == "still there?"
        asyncio.run(still_serving())
    return lambda: with_server(body, extra_args)


for name, frames, code in [
    # §5.1: a server must fail the connection on an unmasked client frame.
    ("unmasked", [encode_frame(OP_TEXT, b"hello", mask=False)], 1002),
    # §5.2: opcodes 0x3-0x7 and 0xB-0xF are reserved.
    ("reserved-opcode", [encode_frame(0x3, b"?")], 1002),
    ("reserved-control-opcode", [encode_frame(0xB, b"?")], 1002),
    # RSV bits without an extension that defines them.
    ("rsv1-without-extension", [encode_frame(OP_TEXT, b"x", rsv=4)], 1002),
    # §5.5: control frames are never fragmented nor longer than 125 bytes.
    ("fragmented-ping", [encode_frame(OP_PING, b"x", fin=False)], 1002),
    ("ping-too-long", [encode_frame(OP_PING, b"x" * 126)], 1002),
    # §5.4: a continuation with nothing to continue, a new message inside one.
    ("continuation-first", [encode_frame(OP_CONT, b"x")], 1002),
    ("text-inside-binary", [encode_frame(OP_BINARY, b"a", fin=False), encode_frame(OP_TEXT, b"b")], 1002),
    # §8.1: text must be UTF-8.
    ("invalid-utf8", [encode_frame(OP_TEXT, b"ok \xc3\x28")], 1007),
    # §7.4.1: 1005 is never sent on the wire.
    ("close-code-1005", [encode_frame(OP_CLOSE, b"\x03\xed")], 1002),
]:
    run.case(f"protocol-error-{name}")(protocol_error(frames, code))

run.case("message-too-big")(protocol_error([encode_frame(OP_BINARY, b"z" * 2000)], 1009,
                                           ("--max-message", "1000")))

if __name__ == "__main__":
    run.run()
