"""Hostile peers against the example servers (issue 11): a second server
started on a port a first one holds (with SO_REUSEPORT, from --threads 2, it
used to join the port and take a share of the connections), and a chat
client that never reads what the room sends it (chat_server drops it with
abort(): its socket is reset and its backlog freed, while the others go on
chatting). What is asserted is seen from outside: exit statuses and
messages, resets, every message delivered to the reading client, the server's
descriptors (/proc/PID/fd).

Run alone: /usr/bin/python3 tests/interop/test_hostile_peers.py --build build-debug [--io io_uring] [--only CASE]
"""

import errno
import select
import socket
import threading

import harness
from harness import OP_CLOSE, OP_TEXT, encode_frame

run = harness.Runner(__doc__)


def refused_on(port, *flags):
    """echo_server on `port` must exit 1 at once, saying the port is taken."""
    with harness.Processes() as procs:
        second = procs.start([run.example("echo_server"), "--port", str(port), *flags])
        rc = second.wait(10)
        assert rc == 1, f"a second echo_server {' '.join(flags)} on port {port} exited with {rc}"
        assert "Address already in use" in second.stderr(), f"stderr: {second.stderr()!r}"
        assert b"listening" not in second.stdout(), "the second server says it listens"


def assert_echoed(port):
    sock = harness.raw_handshake(port)
    with sock:
        sock.sendall(encode_frame(OP_TEXT, b"still mine"))
        assert harness.read_frame(sock)[1:] == (OP_TEXT, b"still mine")
        sock.sendall(encode_frame(OP_CLOSE, b"\x03\xe8"))
        harness.expect_close(sock, 1000)


@run.case("port-taken-threads-2", timeout=30)
def port_taken_threads():
    """`echo_server --threads 2` twice on one port: the second exits 1 with
    "Address already in use"; the first serves every connection."""
    with harness.Processes() as procs:
        first, port = procs.server([run.example("echo_server"), "--port", "0", "--threads", "2"])
        refused_on(port, "--threads", "2")
        assert_echoed(port)
        harness.stop_cleanly(first)


@run.case("port-taken-mixed", timeout=30)
def port_taken_mixed():
    """One loop (no SO_REUSEPORT) holding the port against two, and two
    against one."""
    with harness.Processes() as procs:
        first, port = procs.server([run.example("echo_server"), "--port", "0"])
        refused_on(port, "--threads", "2")
        harness.stop_cleanly(first)
    with harness.Processes() as procs:
        first, port = procs.server([run.example("echo_server"), "--port", "0", "--threads", "2"])
        refused_on(port)
        harness.stop_cleanly(first)


@run.case("chat-slow-client-dropped", timeout=60)
def chat_slow_client():
    """Two chat clients; one never reads. A second one sends 200 messages of
    60,000 bytes: the room's backlog for the first passes chat_server's 4 MiB
    limit and it is reset (ECONNRESET, no Close queued behind the backlog),
    while the reading client gets all 200 messages and closes normally."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("chat_server"), "--port", "0"])
        baseline = harness.fd_count(server.pid)
        slow = harness.raw_handshake(port, "/ws")
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
        fast = harness.raw_handshake(port, "/ws")
        count, size = 200, 60000
        got = []

        def reader():
            try:
                while len(got) < count:
                    _, opcode, payload = harness.read_frame(fast)
                    if opcode == OP_TEXT:
                        got.append(len(payload))
            except (OSError, EOFError):
                pass

        t = threading.Thread(target=reader, daemon=True)
        t.start()
        for i in range(count):
            fast.sendall(encode_frame(OP_TEXT, bytes([0x61 + i % 26]) * size))
        t.join(30)
        assert got == [size] * count, f"the reading client got {len(got)} of {count} messages"

        poller = select.poll()
        poller.register(slow, select.POLLRDHUP)
        events = poller.poll(3000)  # abort() is at once: no close_timeout to wait for
        assert events and events[0][1] & (select.POLLERR | select.POLLHUP), \
            f"the client that does not read is still connected ({events})"
        err = slow.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        assert err == errno.ECONNRESET, f"expected a reset, got {errno.errorcode.get(err, err)}"
        slow.close()
        harness.wait_until(lambda: harness.fd_count(server.pid) == baseline + 1, 5,
                           f"chat_server's descriptors back to {baseline} + the reading client")

        fast.sendall(encode_frame(OP_CLOSE, b"\x03\xe8"))
        harness.expect_close(fast, 1000)
        fast.close()
        harness.wait_until(lambda: harness.fd_count(server.pid) == baseline, 5,
                           f"chat_server's descriptors back to {baseline}")
        harness.stop_cleanly(server)


if __name__ == "__main__":
    run.run()
