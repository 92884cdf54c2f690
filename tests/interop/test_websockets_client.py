"""Python `websockets` (Debian's 10.4, asyncio API) as the client of our echo
server: every message size and type echoed exactly, fragmented messages,
pings, and each way a connection ends; then the same with permessage-deflate
(RFC 7692) in each combination of parameters websockets can offer and of the
server's policy flags. What websockets will not send (bad frames, bad
compressed data, a decompression bomb) goes over a raw socket after a real
handshake.

Run alone: /usr/bin/python3 tests/interop/test_websockets_client.py \
    --build build-debug [--server libuv_echo] [--only CASE] [--list]
"""

import asyncio
import signal
import threading
import time
import zlib

import harness
from harness import OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_TEXT, SIZES, encode_frame

websockets = harness.require_module("websockets", "python3-websockets")
from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory  # noqa: E402

run = harness.Runner(__doc__)
run.parser.add_argument("--server", default="echo_server", choices=["echo_server", "libuv_echo"],
                        help="which echo server to test (both take the same flags but --deflate-shared)")
# Known before the cases are registered: some are echo_server's only.
ECHO_SERVER = run.parse().server == "echo_server"


def with_server(body, extra_args=()):
    """Run `body(port, server)` against a fresh server, then require a clean
    exit on SIGTERM (where sanitizer builds report leaks)."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example(run.args.server), "--port", "0", *extra_args])
        body(port, server)
        harness.stop_cleanly(server)


def connect(port, deflate=None):
    # No keep-alive pings (they would interleave with what a case checks);
    # room for 16 MiB messages. Compression only when asked for: `deflate` is
    # a ClientPerMessageDeflateFactory, the one extension offered.
    return websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, ping_interval=None,
                              close_timeout=5, open_timeout=10, compression=None,
                              extensions=[deflate] if deflate else None)


def check_echo(sent, got):
    assert type(got) is type(sent), f"sent {type(sent).__name__}, echoed as {type(got).__name__}"
    if got != sent:
        raw_sent = sent.encode() if isinstance(sent, str) else sent
        raw_got = got.encode() if isinstance(got, str) else got
        first = next((i for i, (a, b) in enumerate(zip(raw_sent, raw_got)) if a != b),
                     min(len(raw_sent), len(raw_got)))
        raise AssertionError(f"echo of {len(raw_sent)} bytes differs: got {len(raw_got)} bytes, "
                             f"first difference at byte {first}")


def check_negotiated(ws, deflate, flags):
    """The server's Sec-WebSocket-Extensions answer is what the server started
    with `flags` must answer to `deflate`'s offer (harness.deflate_answer),
    and websockets took it; the parameters answered, None when declined."""
    offer = dict(deflate.get_request_params()) if deflate else None
    params = harness.check_deflate_answer(ws.response_headers.get("Sec-WebSocket-Extensions"), offer, flags)
    assert len(ws.extensions) == (params is not None), f"websockets runs {ws.extensions}"
    return params


def echo_sizes(makers, sizes, deflate=None, flags=()):
    """Each size made by each of `makers`, one after the other on one
    connection, echoed exactly and as the same type."""
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
                for make in makers:
                    for size in sizes:
                        msg = make(size)
                        await ws.send(msg)
                        check_echo(msg, await ws.recv())
                await ws.close()
                assert ws.close_code == 1000
        asyncio.run(go())
    return body


small = [s for s in SIZES if s < 1 << 20]
run.case("sizes-text")(lambda: with_server(echo_sizes([harness.payload_text], small)))
run.case("sizes-binary")(lambda: with_server(echo_sizes([harness.payload_bytes], small)))
run.case("size-16MiB-text", timeout=50)(lambda: with_server(echo_sizes([harness.payload_text], [16 << 20])))
run.case("size-16MiB-binary", timeout=50)(lambda: with_server(echo_sizes([harness.payload_bytes], [16 << 20])))


def pipelined(deflate=None, flags=()):
    """Many messages of mixed types sent before reading any echo: all come
    back, in order, each as its own type."""
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
                msgs = [harness.payload_text(i * 37, i) if i % 2 else harness.payload_bytes(i * 53, i)
                        for i in range(300)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    check_echo(m, await ws.recv())
        asyncio.run(go())
    return body


def fragmented(fragments, deflate=None, flags=()):
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
                await ws.send(fragments)
                whole = fragments[0][:0].join(fragments)
                check_echo(whole, await ws.recv())
        asyncio.run(go())
    return body


# Empty fragments, a fragment needing the 64-bit length, and text split
# between characters of every width.
TEXT_FRAGMENTS = ["", "é", harness.payload_text(70000, 1), "", "😀€", "x"]
BINARY_FRAGMENTS = [b"", b"\x00", harness.payload_bytes(70000, 1), b"", b"\xff" * 125]


def fragmented_with_pings(deflate=None, flags=()):
    """Control frames may come between the fragments of a message (§5.4):
    each ping is answered at once, and the message still arrives whole."""
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
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
    return body


def ping_pong(deflate=None, flags=()):
    """Pings of 0, 1 and 125 bytes (the largest control payload), several in
    flight at once: each answered with a Pong carrying the same data."""
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
                for data in (b"", b"p", harness.payload_bytes(125)):
                    await asyncio.wait_for(await ws.ping(data), 5)
                waiters = [await ws.ping(f"{i:04d}") for i in range(20)]
                await asyncio.wait_for(asyncio.gather(*waiters), 5)
                latency = await asyncio.wait_for(await ws.ping(), 5)
                assert latency is None or latency < 1, f"pong took {latency} s"
        asyncio.run(go())
    return body


def close_client_first(deflate=None, flags=()):
    """We close with 1000: the server answers 1000 (so it read our code) and
    then closes TCP itself, promptly (§7.1.1)."""
    def body(port, _server):
        async def go():
            async with connect(port, deflate) as ws:
                check_negotiated(ws, deflate, flags)
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
    return body


run.case("pipelined-in-order")(lambda: with_server(pipelined()))
run.case("fragmented-text")(lambda: with_server(fragmented(TEXT_FRAGMENTS)))
run.case("fragmented-binary")(lambda: with_server(fragmented(BINARY_FRAGMENTS)))
run.case("fragmented-with-pings")(lambda: with_server(fragmented_with_pings()))
run.case("ping-pong")(lambda: with_server(ping_pong()))


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


run.case("close-client-first")(lambda: with_server(close_client_first()))


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


def protocol_error(frames, code, extra_args=(), offer=None):
    """After a valid handshake (offering `offer`, a Sec-WebSocket-Extensions
    value, when given), send hand-made `frames`: the server must answer with
    a Close carrying `code` and close TCP, and keep serving others."""
    def body(port, _server):
        sock, fields = harness.raw_open(port, extensions=offer)
        try:
            negotiated = fields.get("sec-websocket-extensions")
            wanted = offer is not None and harness.deflate_settings(extra_args)["enabled"]
            assert bool(negotiated) == wanted, f"offered {offer!r}, the server answered {negotiated!r}"
            sock.sendall(b"".join(frames))
            harness.expect_close(sock, code)
        finally:
            sock.close()
        still_serving(port)
    return lambda: with_server(body, extra_args)


def still_serving(port):
    """A new client (offering permessage-deflate, so that a compressing
    server compresses) gets its echo."""
    async def go():
        async with connect(port, ClientPerMessageDeflateFactory()) as ws:
            for msg in ("still there?", harness.payload_json(900)):
                await ws.send(msg)
                assert await ws.recv() == msg
    asyncio.run(go())


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


# ---- permessage-deflate -----------------------------------------------------

# One ClientPerMessageDeflateFactory per row: each parameter websockets can
# offer, and each of the server's policy flags. The server's answer is
# checked against harness.deflate_answer. Not here: a client window of 8,
# which websockets accepts as a parameter but cannot use (it builds
# zlib.compressobj(wbits=-8), which zlib refuses); the Node client covers it.
PMD = ClientPerMessageDeflateFactory
DEFLATE_PROFILES = [
    # websockets' own offer: "permessage-deflate; client_max_window_bits".
    ("defaults", PMD(), []),
    ("bare-offer", PMD(client_max_window_bits=None), []),
    ("ask-no-context", PMD(server_no_context_takeover=True, client_no_context_takeover=True), []),
    # The server cannot compress with a 256-byte window: it sends plain
    # messages, and inflates ours.
    ("ask-server-window-8", PMD(server_max_window_bits=8), []),
    ("ask-windows-9", PMD(server_max_window_bits=9, client_max_window_bits=9), []),
    # Asked for, 15 must be answered (§7.1.2.1; websockets insists).
    ("ask-windows-15", PMD(server_max_window_bits=15, client_max_window_bits=15), []),
    ("ask-mixed", PMD(server_max_window_bits=12, client_max_window_bits=10, client_no_context_takeover=True), []),
    ("server-window-8", PMD(), ["--deflate-server-window", "8"]),
    ("server-window-10", PMD(server_max_window_bits=12), ["--deflate-server-window", "10"]),
    ("server-client-window-9", PMD(), ["--deflate-client-window", "9"]),
    ("server-client-window-12", PMD(client_max_window_bits=10), ["--deflate-client-window", "12"]),
    # No client_max_window_bits offered: the limit cannot be asked for, declined.
    ("server-client-window-unoffered", PMD(client_max_window_bits=None), ["--deflate-client-window", "9"]),
    ("server-no-context", PMD(), ["--deflate-server-no-context"]),
    ("client-no-context", PMD(), ["--deflate-client-no-context"]),
    ("server-all", PMD(server_max_window_bits=11, client_no_context_takeover=True),
     ["--deflate-server-window", "9", "--deflate-client-window", "9", "--deflate-server-no-context",
      "--deflate-client-no-context"]),
    ("server-off", PMD(), ["--no-deflate"]),
    ("server-off-ask-no-context", PMD(server_no_context_takeover=True), ["--no-deflate"]),
]

# Each size as mixed-width text (a repeated 997-byte unit: compressible with a
# window of 1 KiB and more), JSON-like text (compressible with any window),
# and random bytes (incompressible); 3 MiB of each only in some rows (time).
DEFLATE_MAKERS = [harness.payload_text, harness.payload_json, harness.payload_bytes]
DEFLATE_SIZES = [0, 1, 63, 64, 125, 126, 1000, 65535, 65536, 1 << 20]
BIG_ROWS = {"defaults", "server-window-8", "server-off"}


def deflate_profile(name, deflate, flags):
    """Two cases per row: every size of every kind on one connection (3 MiB
    too in BIG_ROWS); then, on one server, fragmented messages (websockets
    compresses each fragment: one deflate stream over several frames), pings
    between fragments, 300 pipelined messages (the context kept or reset
    across them), pings, and a close answered with 1000. websockets inflates
    each message in one call, which does not hold the server to its window
    inside a message: the deflate-output cases do."""
    sizes = DEFLATE_SIZES + ([3 << 20] if name in BIG_ROWS else [])
    run.case(f"deflate-{name}-sizes", timeout=40)(
        lambda: with_server(echo_sizes(DEFLATE_MAKERS, sizes, deflate, flags), flags))
    bodies = [fragmented(TEXT_FRAGMENTS, deflate, flags), fragmented(BINARY_FRAGMENTS, deflate, flags),
              fragmented_with_pings(deflate, flags), pipelined(deflate, flags), ping_pong(deflate, flags),
              close_client_first(deflate, flags)]

    def all_bodies(port, server):
        for body in bodies:
            body(port, server)
    run.case(f"deflate-{name}-stream")(lambda: with_server(all_bodies, flags))


for row in DEFLATE_PROFILES:
    deflate_profile(*row)
if ECHO_SERVER:
    # One compressor for all the connections of a thread (so no context).
    deflate_profile("shared", PMD(), ["--deflate-shared"])


def server_output(offer, accepted, flags=()):
    """Over a raw socket, offering `offer` (a Sec-WebSocket-Extensions value;
    `accepted` the element of it the server must take, {param: value or
    None}): what the server sends back. JSON-like messages of each size, each
    twice (the second may refer back to the first), sent compressed with the
    agreed client window (context kept unless client_no_context_takeover;
    plain with a window of 8). Echoes under 64 bytes come plain and from 64
    on compressed, all plain when the server's window is 8; each inflates
    with no more than the agreed server window (zlib fails on a reference
    further back), with a fresh inflater under server_no_context_takeover."""
    def body(port, _server):
        sock, fields = harness.raw_open(port, extensions=offer)
        try:
            params = harness.check_deflate_answer(fields.get("sec-websocket-extensions"), accepted, flags)
            assert params is not None
            server_bits = int(params.get("server_max_window_bits", 15))
            client_bits = int(params.get("client_max_window_bits", 15))
            kept = zlib.decompressobj(wbits=-server_bits)
            compressor = None
            for size in [0, 1, 63, 64, 200, 5000, 70000, 1 << 20]:
                data = harness.payload_json(size, size).encode()
                for _ in range(2):
                    if client_bits == 8:
                        sock.sendall(encode_frame(OP_TEXT, data))
                    else:
                        if compressor is None or "client_no_context_takeover" in params:
                            compressor = zlib.compressobj(wbits=-client_bits)
                        payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
                        sock.sendall(encode_frame(OP_TEXT, payload[:-4], rsv=4))
                    opcode, got, compressed = harness.read_message(
                        sock, lambda: zlib.decompressobj(wbits=-server_bits)
                        if "server_no_context_takeover" in params else kept)
                    assert opcode == OP_TEXT and got == data, f"echo of {size} bytes differs"
                    should = server_bits > 8 and size >= 64
                    assert compressed == should, \
                        f"echo of {size} bytes came {'compressed' if compressed else 'plain'} ({params})"
            sock.sendall(encode_frame(OP_CLOSE, b"\x03\xe8"))
            harness.expect_close(sock, 1000)
        finally:
            sock.close()
    return lambda: with_server(body, flags)


W, C = "server_max_window_bits", "client_max_window_bits"
for name, offer, accepted, flags in [
    ("bare", "permessage-deflate", {}, []),
    ("server-no-context", "permessage-deflate; server_no_context_takeover", {"server_no_context_takeover": None}, []),
    ("ask-server-window-9", "permessage-deflate; server_max_window_bits=9", {W: "9"}, []),
    ("ask-server-window-8", "permessage-deflate; server_max_window_bits=8; client_max_window_bits",
     {W: "8", C: None}, []),
    ("server-window-8", "permessage-deflate; client_max_window_bits", {C: None}, ["--deflate-server-window", "8"]),
    ("server-policy", "permessage-deflate; client_max_window_bits", {C: None},
     ["--deflate-server-window", "10", "--deflate-client-window", "9", "--deflate-server-no-context",
      "--deflate-client-no-context"]),
    # Unknown extensions are passed over; offers with an unknown or repeated
    # parameter or a bad value are declined and the next one taken (§5.1).
    ("offer-list", "x-webkit-deflate-frame, permessage-deflate; foo, permessage-deflate; server_max_window_bits=8; "
     "server_max_window_bits=9, permessage-deflate; server_max_window_bits=16, permessage-deflate; "
     "server_max_window_bits=11; client_max_window_bits", {W: "11", C: None}, []),
    # A value may come as a quoted-string (RFC 6455 §9.1).
    ("quoted-value", 'permessage-deflate; server_max_window_bits="10"', {W: "10"}, []),
]:
    run.case(f"deflate-output-{name}")(server_output(offer, accepted, flags))
if ECHO_SERVER:
    run.case("deflate-output-shared")(server_output("permessage-deflate", {}, ["--deflate-shared"]))


def shared_concurrent(threads):
    """--deflate-shared: 12 clients at once, on `threads` threads, each
    sending 40 compressible messages without waiting, so that the server's
    shared compressor goes from one connection to another between messages:
    every echo exact and in order."""
    def body(port, _server):
        async def client(i):
            async with connect(port, PMD()) as ws:
                msgs = [harness.payload_json(100 + (i * 131 + j * 977) % 20000, i * 100 + j) for j in range(40)]
                for m in msgs:
                    await ws.send(m)
                for m in msgs:
                    check_echo(m, await ws.recv())

        async def go():
            await asyncio.gather(*(client(i) for i in range(12)))
        asyncio.run(go())
    return lambda: with_server(body, ["--deflate-shared", "--threads", str(threads)])


if ECHO_SERVER:
    run.case("deflate-shared-concurrent")(shared_concurrent(1))
    run.case("deflate-shared-concurrent-2-threads")(shared_concurrent(2))


def sync_flushed(data):
    """`data` compressed and flushed, the 00 00 ff ff kept: a frame that ends
    on a byte boundary, the stream going on in the next frame."""
    c = zlib.compressobj(wbits=-15)
    return c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)


JSON_DEFLATED = harness.deflate(harness.payload_json(5000).encode())
OFFER = "permessage-deflate; client_max_window_bits"
for name, frames, code, flags in [
    # §6.1 of RFC 7692: RSV1 marks the first frame of a compressed message only.
    ("rsv1-on-continuation", [encode_frame(OP_TEXT, JSON_DEFLATED[:100], fin=False, rsv=4),
                              encode_frame(OP_CONT, JSON_DEFLATED[100:], rsv=4)], 1002, []),
    ("rsv1-on-continuation-of-plain", [encode_frame(OP_TEXT, b"abc", fin=False),
                                       encode_frame(OP_CONT, harness.deflate(b"def"), rsv=4)], 1002, []),
    ("rsv1-on-ping", [encode_frame(OP_PING, b"x", rsv=4)], 1002, []),
    ("rsv1-on-close", [encode_frame(OP_CLOSE, b"\x03\xe8", rsv=4)], 1002, []),
    ("rsv2", [encode_frame(OP_TEXT, b"x", rsv=2)], 1002, []),
    # Not deflate data (0xff: a block of the reserved type 3).
    ("garbage", [encode_frame(OP_TEXT, b"\xff\xfe\xfd not deflate", rsv=4)], 1007, []),
    ("garbage-in-continuation", [encode_frame(OP_BINARY, sync_flushed(b"x" * 300), fin=False, rsv=4),
                                 encode_frame(OP_CONT, b"\xff" * 20)], 1007, []),
    ("invalid-utf8", [encode_frame(OP_TEXT, harness.deflate(b"ok \xc3\x28" * 40), rsv=4)], 1007, []),
    # Offered, declined (--no-deflate): RSV1 means nothing on this connection.
    ("rsv1-not-negotiated", [encode_frame(OP_TEXT, harness.deflate(b"hello"), rsv=4)], 1002, ["--no-deflate"]),
    # Over --max-message once inflated: 1.1 MiB from 1108 bytes; and two
    # frames of 768 KiB each, under the limit alone but not together.
    ("inflated-too-big", [encode_frame(OP_BINARY, harness.deflate_bomb(1100 << 10), rsv=4)], 1009,
     ["--max-message", "1048576"]),
    ("inflated-too-big-fragmented", [encode_frame(OP_BINARY, sync_flushed(bytes(768 << 10)), fin=False, rsv=4),
                                     encode_frame(OP_CONT, harness.deflate(bytes(768 << 10)))], 1009,
     ["--max-message", "1048576"]),
]:
    run.case(f"deflate-error-{name}")(protocol_error(frames, code, flags, offer=OFFER))


@run.case("deflate-at-max-message")
def at_max_message():
    """A message inflating to exactly --max-message bytes is not too big."""
    def body(port, _server):
        sock, fields = harness.raw_open(port, extensions=OFFER)
        try:
            assert fields.get("sec-websocket-extensions"), "permessage-deflate declined"
            data = harness.payload_json(1 << 20).encode()
            sock.sendall(encode_frame(OP_TEXT, harness.deflate(data), rsv=4))
            _, got, _ = harness.read_message(sock, lambda: zlib.decompressobj(wbits=-15))
            assert got == data, "echo differs"
        finally:
            sock.close()
    with_server(body, ("--max-message", "1048576"))


@run.case("deflate-bomb", timeout=40)
def deflate_bomb():
    """One frame of 1 MiB (just under --max-message) that inflates to 1 GiB
    of zeros: Close 1009 within 10 s (the bound of a hung or slow server, not
    a timing claim), and the server's peak resident memory (VmHWM) grows by
    less than 64 MiB: it stopped inflating near the limit. Sent from another
    thread: the server may stop reading, and a reset may end TCP (our unread
    bytes fill its buffer when it closes)."""
    limit = 1 << 20
    bomb = harness.deflate_bomb(1 << 30)
    assert len(bomb) < limit, f"the bomb is {len(bomb)} bytes on the wire"

    def body(port, server):
        still_serving(port)  # what it allocates per compressed connection is in place
        before = harness.peak_rss_kib(server.pid)
        sock, fields = harness.raw_open(port, extensions=OFFER)
        try:
            assert fields.get("sec-websocket-extensions"), "permessage-deflate declined"

            def send():
                try:
                    sock.sendall(encode_frame(OP_BINARY, bomb, rsv=4))
                except OSError:
                    pass  # closed by the server before it read it all
            sender = threading.Thread(target=send, daemon=True)
            sender.start()
            harness.expect_close(sock, 1009, timeout=10, reset_ok=True)
            sender.join(10)
        finally:
            sock.close()
        grew = harness.peak_rss_kib(server.pid) - before
        assert grew < 64 << 10, f"the server's peak RSS grew by {grew >> 10} MiB"
        still_serving(port)
    with_server(body, ("--max-message", str(limit)))


if __name__ == "__main__":
    run.run()
