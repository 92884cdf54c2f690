"""What every interop test shares: starting the programs under test and always
stopping them, reading the port a server prints, WebSocket frames written and
read by hand over a plain socket (for what no well-behaved peer would send),
looking at a server's memory and descriptors in /proc, and a small case runner
that bounds each case's time and prints one line per case.

Standard library only, so that the scripts run on Debian's /usr/bin/python3
with nothing but python3-websockets and python3-wsproto added.
"""

import argparse
import base64
import hashlib
import os
import random
import re
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
SOURCE_ROOT = os.path.dirname(os.path.dirname(HERE))

# meson's exit status for "skipped".
SKIP = 77

# The sizes of the interop matrix: around the 7-bit and 16-bit length
# encodings of RFC 6455 §5.2, and the largest message Autobahn sends.
SIZES = [0, 1, 125, 126, 65535, 65536, 16 * 1024 * 1024]

WS_GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def require_module(name, package):
    """Import a peer library or fail with the fix: these tests are meant to
    run, so a missing peer is an error (./dev installs them), not a skip."""
    try:
        return __import__(name)
    except ImportError:
        sys.exit(f"{name} is missing for {sys.executable}: install Debian's {package} (./dev deps)")


# ---- test data --------------------------------------------------------------

def payload_bytes(size, seed=0):
    """Random bytes: any corruption or reordering shows up."""
    return random.Random(seed * 1_000_003 + size).randbytes(size)


# One to four bytes per character, so a text message crosses frame and
# read boundaries in the middle of characters.
_CHARS = "aZ09 ~é߿ࠀ€\uffff𐀀😀\U0010ffff"


def payload_text(size, seed=0):
    """Valid UTF-8 text of exactly `size` bytes, mixing character widths. A
    unit of 997 bytes (not a multiple of 4, so it lands differently under each
    mask byte) is repeated: building 16 MiB character by character is slow."""
    rng = random.Random(seed * 1_000_003 + size)
    unit = ""
    while len(unit.encode()) < 993:
        unit += rng.choice(_CHARS)
    unit += "x" * (997 - len(unit.encode()))
    text = unit * (size // 997)
    return text + "y" * (size - len(text.encode()))


# ---- processes --------------------------------------------------------------

class Program:
    """A child process. Threads collect its stdout and stderr as they come (so
    it never blocks on a full pipe); stderr is also copied to ours, prefixed,
    so that meson's log shows what each program said."""

    def __init__(self, args, name=None, stdin=subprocess.DEVNULL, env=None):
        self.name = name or os.path.basename(args[0])
        self.args = [str(a) for a in args]
        self.proc = subprocess.Popen(self.args, stdin=stdin, stdout=subprocess.PIPE,
                                     stderr=subprocess.PIPE, env=env)
        self.pid = self.proc.pid
        self._out = bytearray()
        self._err = bytearray()
        self._changed = threading.Condition()
        self._readers = [threading.Thread(target=self._collect, args=(self.proc.stdout, self._out, False),
                                          daemon=True),
                         threading.Thread(target=self._collect, args=(self.proc.stderr, self._err, True),
                                          daemon=True)]
        for t in self._readers:
            t.start()

    def _collect(self, pipe, into, echo):
        while chunk := pipe.read1(1 << 20):
            with self._changed:
                into += chunk
                self._changed.notify_all()
            if echo:
                for line in chunk.decode(errors="replace").splitlines():
                    print(f"[{self.name}] {line}", file=sys.stderr, flush=True)
        with self._changed:
            self._changed.notify_all()

    @property
    def stdin(self):
        return self.proc.stdin

    def stdout(self):
        with self._changed:
            return bytes(self._out)

    def stderr(self):
        with self._changed:
            return self._err.decode(errors="replace")

    def wait_for_output(self, pattern, timeout=10):
        """Wait until stdout matches `pattern` (a regex on the text so far);
        returns the match. Fails early if the program exits first."""
        regex = re.compile(pattern, re.M)
        deadline = time.monotonic() + timeout
        with self._changed:
            while True:
                m = regex.search(self._out.decode(errors="replace"))
                if m:
                    return m
                if self.proc.poll() is not None and not any(t.is_alive() for t in self._readers):
                    raise AssertionError(f"{self.name} exited with {self.proc.returncode} before printing "
                                         f"{pattern!r}; stderr: {self.stderr()[-2000:]}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError(f"{self.name} did not print {pattern!r} within {timeout} s")
                self._changed.wait(min(left, 0.2))

    def wait(self, timeout):
        """Wait for the exit (and for the output to be read); the exit status."""
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{self.name} still running after {timeout} s") from None
        for t in self._readers:
            t.join(5)
        return rc

    def running(self):
        return self.proc.poll() is None

    def stop(self, timeout=10):
        """SIGTERM (a graceful shutdown for every program here), then wait; the
        exit status. Under a sanitizer a report at exit makes it non-zero."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
        return self.wait(timeout)

    def kill(self):
        if self.running():
            self.proc.kill()
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            pass
        # The readers end at EOF; their pipes are theirs to leave.
        for t in self._readers:
            t.join(5)
        if self.proc.stdin:
            try:
                self.proc.stdin.close()
            except OSError:
                pass  # a broken pipe: the program is gone anyway


class Processes:
    """Every program a test starts, ended on the way out, whatever happened:
    `with Processes() as procs: server = procs.server([...])`."""

    def __init__(self):
        self.programs = []

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        for p in reversed(self.programs):
            if p.running():
                p.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 3
        for p in reversed(self.programs):
            try:
                p.proc.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
            p.kill()
        return False

    def start(self, args, **kw):
        p = Program(args, **kw)
        self.programs.append(p)
        return p

    def server(self, args, **kw):
        """Start a server that prints 'listening on HOST:PORT' (all of ours and
        the peer scripts here do, with --port 0); returns (program, port)."""
        p = self.start(args, **kw)
        m = p.wait_for_output(r"^listening on (\S+):(\d+)$", timeout=20)
        return p, int(m.group(2))


def stop_cleanly(program, timeout=10):
    """A server's SIGTERM must end it with status 0: this is also where the
    sanitizer builds report leaks and errors found while it ran."""
    rc = program.stop(timeout)
    assert rc == 0, f"{program.name} exited with {rc} after SIGTERM; stderr: {program.stderr()[-3000:]}"


def free_port():
    """A port nothing listens on (bound, then released without listen())."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---- /proc ------------------------------------------------------------------

def rss_kib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def fd_count(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


def wait_until(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(0.05)


# ---- raw frames -------------------------------------------------------------

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0):
    """One frame as RFC 6455 §5.2 lays it out; `mask=False` and `rsv` make
    the frames a client must not send."""
    head = bytearray([(0x80 if fin else 0) | (rsv << 4) | opcode])
    n = len(payload)
    mask_bit = 0x80 if mask else 0
    if n < 126:
        head.append(mask_bit | n)
    elif n < 65536:
        head.append(mask_bit | 126)
        head += struct.pack("!H", n)
    else:
        head.append(mask_bit | 127)
        head += struct.pack("!Q", n)
    if not mask:
        return bytes(head) + payload
    key = os.urandom(4)
    return bytes(head) + key + xor_mask(payload, key)


def xor_mask(data, key):
    if not data:
        return b""
    repeated = (key * (len(data) // 4 + 1))[:len(data)]
    return (int.from_bytes(data, "big") ^ int.from_bytes(repeated, "big")).to_bytes(len(data), "big")


def recv_exact(sock, n):
    buf = bytearray()
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise EOFError(f"connection closed after {len(buf)} of {n} bytes")
        buf += chunk
    return bytes(buf)


def read_frame(sock):
    """(fin, opcode, payload) of the next frame from the server."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    key = recv_exact(sock, 4) if b1 & 0x80 else None
    payload = recv_exact(sock, n)
    return bool(b0 & 0x80), b0 & 0x0F, xor_mask(payload, key) if key else payload


def raw_handshake(port, target="/", timeout=10):
    """A blocking socket past the opening handshake (checked: 101 and the
    right Sec-WebSocket-Accept), ready for hand-made frames."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n").encode())
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exact(sock, 1)
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), f"handshake answered {lines[0]!r}"
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    assert f"sec-websocket-accept: {accept.lower()}" in head.decode().lower(), "wrong Sec-WebSocket-Accept"
    return sock


def expect_close(sock, code, timeout=10):
    """Read until the server's Close (skipping data frames); check its code,
    then that the server closes TCP (§7.1.1: the server closes first)."""
    sock.settimeout(timeout)
    while True:
        _, opcode, payload = read_frame(sock)
        if opcode == OP_CLOSE:
            break
    got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    assert got == code, f"server closed with {got} ({payload[2:]!r}), expected {code}"
    rest = sock.recv(1 << 16)
    assert rest == b"", f"data after the Close: {rest[:40]!r}"


# ---- the case runner --------------------------------------------------------

class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


class Runner:
    """Runs named cases, each under its own time limit (SIGALRM, which also
    breaks blocking socket calls and asyncio.run), printing 'ok'/'FAIL' lines
    and meson's closing count. `--only NAME` (repeatable, or a prefix ending
    in '*') picks cases when a test is run alone."""

    def __init__(self, description):
        self.parser = argparse.ArgumentParser(description=description)
        self.parser.add_argument("--build", default=os.path.join(SOURCE_ROOT, "build-debug"),
                                 help="meson build directory holding examples/ (default: build-debug)")
        self.parser.add_argument("--only", action="append", default=[], metavar="CASE",
                                 help="run only this case (repeatable; 'prefix*' matches several)")
        self.parser.add_argument("--list", action="store_true", help="list the cases and exit")
        self.cases = []
        self.args = None
        signal.signal(signal.SIGALRM, _on_alarm)
        # meson ends a test that runs too long with SIGTERM: unwind through the
        # `finally` blocks so the programs it started are ended too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted by SIGTERM"))

    def parse(self):
        self.args = self.parser.parse_args()
        return self.args

    def example(self, name):
        path = os.path.join(self.args.build, "examples", name)
        if not os.access(path, os.X_OK):
            sys.exit(f"{path} is missing: build first (meson compile -C {self.args.build})")
        return path

    def case(self, name, timeout=30):
        def register(fn):
            self.cases.append((name, fn, timeout))
            return fn
        return register

    def _selected(self, name):
        if not self.args.only:
            return True
        return any(name == o or (o.endswith("*") and name.startswith(o[:-1])) for o in self.args.only)

    def run(self):
        """Run the selected cases; exits 0 when all passed, 1 otherwise."""
        if self.args is None:
            self.parse()
        if self.args.list:
            for name, _, timeout in self.cases:
                print(f"{name}  (limit {timeout} s)")
            sys.exit(0)
        passed = failed = 0
        for name, fn, timeout in self.cases:
            if not self._selected(name):
                continue
            start = time.monotonic()
            signal.setitimer(signal.ITIMER_REAL, timeout)
            try:
                fn()
                error = None
            except CaseTimeout:
                error = f"timed out after {timeout} s"
            except Exception as e:
                error = "".join(traceback.format_exception(e)).rstrip()
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            took = time.monotonic() - start
            if error is None:
                passed += 1
                print(f"ok    {name} ({took:.2f} s)", flush=True)
            else:
                failed += 1
                print(f"FAIL  {name} ({took:.2f} s): {error}", flush=True)
        print(f"{passed} passed, {failed} failed", flush=True)
        sys.exit(1 if failed or not passed else 0)
