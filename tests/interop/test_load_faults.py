"""Load and faults against echo_server: many clients at once, a client that
stops reading, clients that never finish the handshake, and peers that
vanish in the middle of a message. What is asserted is what the server
process shows from outside: the echoes, its resident memory (VmRSS) and its
open descriptors (/proc/PID/fd), and that it keeps serving others.

Run alone: /usr/bin/python3 tests/interop/test_load_faults.py --build build-debug [--only CASE]
"""

import asyncio
import resource
import socket
import struct
import time

import harness
from harness import OP_BINARY, encode_frame

websockets = harness.require_module("websockets", "python3-websockets")

run = harness.Runner(__doc__)
run.parser.add_argument("--connections", type=int, default=1000,
                        help="clients connected at once in 1000-concurrent-connections (default 1000)")
run.parser.add_argument("--messages", type=int, default=20, help="messages each of them sends (default 20)")
run.parser.add_argument("--threads", type=int, default=2, help="echo_server threads for that case (default 2)")


def start_echo(procs, *flags):
    """The server, and its descriptor count once a first connection has come
    and gone (whatever it allocates lazily is then in place)."""
    server, port = procs.server([run.example("echo_server"), "--port", "0", *flags])
    assert_served(port)
    baseline = harness.fd_count(server.pid)
    return server, port, baseline


def assert_served(port, size=65536, within=2.0):
    """A new client gets its message echoed, promptly."""
    async def go():
        start = time.monotonic()
        async with websockets.connect(f"ws://127.0.0.1:{port}/", max_size=None, ping_interval=None) as ws:
            data = harness.payload_bytes(size)
            await ws.send(data)
            assert await ws.recv() == data
        took = time.monotonic() - start
        assert took < within, f"a fresh client took {took:.2f} s to be served"
    asyncio.run(asyncio.wait_for(go(), 10))


def wait_fds(server, baseline, what, timeout=5):
    harness.wait_until(lambda: harness.fd_count(server.pid) == baseline, timeout,
                       f"{what}: server descriptors back to {baseline} (now {harness.fd_count(server.pid)})")


# ---- load -------------------------------------------------------------------

@run.case("1000-concurrent-connections", timeout=60)
def many_connections():
    """1,000 clients (--connections) connected at the same time (checked: the
    server holds that many more descriptors), each sending 20 messages
    (--messages) of mixed types and sizes before reading: every echo comes
    back, exact and in order. Two server threads (--threads), so the
    SO_REUSEPORT listeners share the load."""
    connections, messages = run.args.connections, run.args.messages
    # Both ends of every connection: past the usual soft limit of 1,024.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = 2 * connections + 256
    if soft < want:
        assert want <= hard, f"{connections} connections need ulimit -n {want}; the hard limit is {hard}"
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    with harness.Processes() as procs:
        server, port, baseline = start_echo(procs, "--threads", str(run.args.threads))
        start = time.monotonic()

        async def go():
            all_open = asyncio.Event()
            opened = 0
            peak = []

            async def client(i):
                nonlocal opened
                async with websockets.connect(f"ws://127.0.0.1:{port}/", ping_interval=None, compression=None,
                                              open_timeout=30, close_timeout=10) as ws:
                    opened += 1
                    if opened == connections:
                        peak.append(harness.fd_count(server.pid))
                        all_open.set()
                    await all_open.wait()
                    sent = [f"client {i} message {j}" if j % 2 else harness.payload_bytes((i * 7 + j * 131) % 3000, i)
                            for j in range(messages)]
                    for m in sent:
                        await ws.send(m)
                    for j, m in enumerate(sent):
                        got = await ws.recv()
                        assert got == m, f"client {i}: echo {j} is not message {j}"
                return i

            done = await asyncio.gather(*(client(i) for i in range(connections)))
            assert sorted(done) == list(range(connections))
            assert peak[0] >= baseline + connections, f"only {peak[0] - baseline} connections open at once"

        asyncio.run(go())
        print(f"{connections} connections x {messages} messages echoed in {time.monotonic() - start:.2f} s",
              flush=True)
        wait_fds(server, baseline, "after every client closed")
        assert_served(port)
        harness.stop_cleanly(server)


# ---- a client that stops reading --------------------------------------------

MESSAGE = 1 << 20
RSS_GROWTH_LIMIT_KIB = 64 * 1024


@run.case("slow-reader-memory-bounded", timeout=60)
def slow_reader():
    """A client sends 1 MiB messages and never reads the echoes. The server
    must stop reading from it once its queued output passes the high-water
    mark (1 MiB), so the client's sends stall long before it has pushed
    256 MiB, and the server's VmRSS grows by less than 64 MiB. Meanwhile a
    second client is served at once."""
    with harness.Processes() as procs:
        server, port, baseline = start_echo(procs)
        rss_before = harness.rss_kib(server.pid)

        slow = harness.raw_handshake(port)
        frame = encode_frame(OP_BINARY, harness.payload_bytes(MESSAGE))
        sent = 0
        peak = rss_before
        try:
            slow.settimeout(2)
            while sent < 256 * MESSAGE:
                try:
                    slow.sendall(frame)
                except socket.timeout:
                    break  # stalled for 2 s: the server has stopped reading us
                sent += len(frame)
                peak = max(peak, harness.rss_kib(server.pid))
            else:
                raise AssertionError("256 MiB sent and never read back, yet the server kept reading")
            # Let whatever is in flight settle, then measure.
            time.sleep(0.5)
            peak = max(peak, harness.rss_kib(server.pid))
            growth = peak - rss_before
            print(f"slow reader: {sent >> 20} MiB accepted before the stall; "
                  f"server VmRSS {rss_before} KiB -> peak {peak} KiB", flush=True)
            assert growth < RSS_GROWTH_LIMIT_KIB, f"server VmRSS grew by {growth} KiB"

            assert_served(port, size=1 << 20, within=1.0)
        finally:
            # Vanish without a word (RST): the server must still clean up.
            slow.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            slow.close()
        wait_fds(server, baseline, "after the slow reader vanished")
        assert_served(port)
        harness.stop_cleanly(server)


# ---- clients that never finish the handshake --------------------------------

HANDSHAKE_TIMEOUT = 2.0


def time_until_dropped(sock, trickle=None):
    """Seconds until the server closes `sock`, sending `trickle` (bytes) one
    byte a second meanwhile; whatever the server said is returned too."""
    start = time.monotonic()
    said = b""
    sock.setblocking(False)
    next_byte = start
    while True:
        now = time.monotonic()
        if trickle and now >= next_byte:
            try:
                sock.send(trickle[:1])
            except (BrokenPipeError, ConnectionResetError):
                return now - start, said
            trickle = trickle[1:]
            next_byte += 1.0
        try:
            chunk = sock.recv(4096)
        except BlockingIOError:
            time.sleep(0.02)
            continue
        except ConnectionResetError:
            return time.monotonic() - start, said
        if not chunk:
            return time.monotonic() - start, said
        said += chunk


def handshake_deadline(trickle):
    def body():
        with harness.Processes() as procs:
            server, port, baseline = start_echo(procs, "--handshake-timeout", str(int(HANDSHAKE_TIMEOUT * 1000)))
            with socket.create_connection(("127.0.0.1", port)) as sock:
                took, said = time_until_dropped(sock, trickle)
            print(f"dropped after {took:.2f} s; the server said {said[:80]!r}", flush=True)
            # Not before the deadline, and not much after it: the trickle
            # must not have pushed it back. Slack for slow sanitizer builds.
            assert HANDSHAKE_TIMEOUT - 0.2 <= took <= HANDSHAKE_TIMEOUT + 1.5, f"dropped after {took:.2f} s"
            assert said == b"" or said.startswith(b"HTTP/1.1 4"), f"unexpected answer {said[:200]!r}"
            wait_fds(server, baseline, "after the dropped client")
            assert_served(port)
            harness.stop_cleanly(server)
    return body


HANDSHAKE = (b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
             b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
run.case("silent-client-dropped-at-handshake-deadline")(handshake_deadline(None))
run.case("byte-a-second-handshake-dropped-at-deadline")(handshake_deadline(HANDSHAKE))


# ---- peers that vanish mid-message ------------------------------------------

def half_sent_message(port):
    """A connection holding half of a 100,000-byte message the server has
    already read (the echo round trip before it proves the server is
    reading this connection)."""
    sock = harness.raw_handshake(port)
    sock.sendall(encode_frame(OP_BINARY, b"ping-pong"))
    _, _, echo = harness.read_frame(sock)
    assert echo == b"ping-pong"
    frame = encode_frame(OP_BINARY, harness.payload_bytes(100_000))
    sock.sendall(frame[:50_000])
    return sock


@run.case("reset-mid-message")
def reset_mid_message():
    """RST (SO_LINGER 0) halfway through a message: the server frees the
    connection and serves the next client."""
    with harness.Processes() as procs:
        server, port, baseline = start_echo(procs)
        sock = half_sent_message(port)
        time.sleep(0.2)
        assert harness.fd_count(server.pid) == baseline + 1
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        wait_fds(server, baseline, "after the RST")
        assert_served(port)
        harness.stop_cleanly(server)


@run.case("half-close-mid-message")
def half_close_mid_message():
    """shutdown(SHUT_WR) halfway through a message: the server sees the end
    of its input, closes its side (our socket reads EOF, perhaps after a
    Close frame) and frees the connection while our end is still open."""
    with harness.Processes() as procs:
        server, port, baseline = start_echo(procs)
        sock = half_sent_message(port)
        try:
            sock.shutdown(socket.SHUT_WR)
            sock.settimeout(5)
            while sock.recv(4096):
                pass
            wait_fds(server, baseline, "after the half-close")
            assert_served(port)
        finally:
            sock.close()
        harness.stop_cleanly(server)


@run.case("reset-while-server-writes")
def reset_while_writing():
    """A 4 MiB message whose echo the client never reads, then RST while the
    server is still writing it: the failed write frees the connection."""
    with harness.Processes() as procs:
        server, port, baseline = start_echo(procs)
        sock = harness.raw_handshake(port)
        sock.sendall(encode_frame(OP_BINARY, harness.payload_bytes(4 << 20)))
        time.sleep(0.3)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        sock.close()
        wait_fds(server, baseline, "after the RST")
        assert_served(port)
        harness.stop_cleanly(server)


if __name__ == "__main__":
    run.run()
