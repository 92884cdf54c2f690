"""What every interop test shares: starting the programs under test and always
stopping them, reading the port a server prints, WebSocket frames written and
read by hand over a plain socket (for what no well-behaved peer would send),
looking at a server's memory and descriptors in /proc, and a small case runner
that bounds each case's time and prints one line per case.

Standard library only, so that the scripts run on Debian's /usr/bin/python3
with nothing but python3-websockets and python3-wsproto added.
"""

import argparse
import atexit
import base64
import hashlib
import os
import random
import re
import signal
import socket
import struct
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import zlib

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


_WORDS = ["alpha", "beta", "gamma", "delta", "naïve", "café", "Zürich", "東京", "ok", "pending", "done"]


def payload_json(size, seed=0):
    """Compressible UTF-8 text of exactly `size` bytes, like a JSON API answer:
    records repeating the same keys with varying values. Deflate shrinks it
    several times over with any window (the records are short), where
    payload_text's 997-byte unit needs a window of 1 KiB or more."""
    rng = random.Random(seed * 1_000_003 + size + 7)
    parts = ["["]
    length = 1
    i = 0
    while length < size:
        record = (f'{{"id":{i},"name":"{rng.choice(_WORDS)}-{rng.randrange(1000)}",'
                  f'"score":{rng.random():.4f},"tags":["{rng.choice(_WORDS)}","{rng.choice(_WORDS)}"],'
                  f'"active":{"true" if rng.random() < .5 else "false"}}},')
        parts.append(record)
        length += len(record.encode())
        i += 1
    text = "".join(parts).encode()[:size].decode(errors="ignore")
    return text + " " * (size - len(text.encode()))


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
    return _status_kib(pid, "VmRSS")


def peak_rss_kib(pid):
    """The most the process ever had resident (VmHWM): a buffer allocated and
    freed again between two looks at VmRSS still shows here."""
    return _status_kib(pid, "VmHWM")


def _status_kib(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")


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
    fin, _, opcode, payload = read_frame_rsv(sock)
    return fin, opcode, payload


def read_frame_rsv(sock):
    """(fin, rsv, opcode, payload) of the next frame: rsv is the three RSV
    bits as a number (4 is RSV1, the permessage-deflate bit)."""
    b0, b1 = recv_exact(sock, 2)
    n = b1 & 0x7F
    if n == 126:
        n = struct.unpack("!H", recv_exact(sock, 2))[0]
    elif n == 127:
        n = struct.unpack("!Q", recv_exact(sock, 8))[0]
    key = recv_exact(sock, 4) if b1 & 0x80 else None
    payload = recv_exact(sock, n)
    return bool(b0 & 0x80), (b0 >> 4) & 0x7, b0 & 0x0F, xor_mask(payload, key) if key else payload


def raw_handshake(port, target="/", timeout=10):
    """A blocking socket past the opening handshake (checked: 101 and the
    right Sec-WebSocket-Accept), ready for hand-made frames."""
    return raw_open(port, target, timeout=timeout)[0]


def raw_open(port, target="/", extensions=None, timeout=10):
    """raw_handshake offering `extensions` (a Sec-WebSocket-Extensions value)
    when given; (socket, the response's fields: lower-case name → value)."""
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    offer = f"Sec-WebSocket-Extensions: {extensions}\r\n" if extensions else ""
    sock.sendall((f"GET {target} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                  f"{offer}\r\n").encode())
    head = bytearray()
    while not head.endswith(b"\r\n\r\n"):
        head += recv_exact(sock, 1)
    lines = head.decode().split("\r\n")
    assert lines[0].startswith("HTTP/1.1 101"), f"handshake answered {lines[0]!r}"
    fields = {}
    for line in lines[1:]:
        if ":" in line:
            name, value = line.split(":", 1)
            name = name.strip().lower()
            fields[name] = f"{fields[name]}, {value.strip()}" if name in fields else value.strip()
    accept = base64.b64encode(hashlib.sha1((key + WS_GUID).encode()).digest()).decode()
    assert fields.get("sec-websocket-accept") == accept, "wrong Sec-WebSocket-Accept"
    return sock, fields


def expect_close(sock, code, timeout=10, reset_ok=False):
    """Read until the server's Close (skipping data frames); check its code,
    then that the server closes TCP (§7.1.1: the server closes first). With
    `reset_ok`, a reset instead of the orderly end of TCP passes too: a server
    failing the connection while our unread frames still fill its socket
    buffer is reset by the kernel when it closes."""
    sock.settimeout(timeout)
    while True:
        _, opcode, payload = read_frame(sock)
        if opcode == OP_CLOSE:
            break
    got = struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None
    assert got == code, f"server closed with {got} ({payload[2:]!r}), expected {code}"
    try:
        rest = sock.recv(1 << 16)
    except ConnectionResetError:
        if not reset_ok:
            raise
        rest = b""
    assert rest == b"", f"data after the Close: {rest[:40]!r}"


# ---- permessage-deflate (RFC 7692) -----------------------------------------

# What a sender takes off the end of a compressed message and the receiver
# puts back before inflating (§7.2.1, §7.2.2).
DEFLATE_TAIL = b"\x00\x00\xff\xff"


def parse_extensions(value):
    """A Sec-WebSocket-Extensions value (None or "none": nothing) as
    [(name, {param: value or None})], in order. Enough of RFC 6455 §9.1 for
    what the peers here send (no quoted commas or semicolons)."""
    if value is None or value == "none":
        return []
    result = []
    for element in value.split(","):
        if not element.strip():
            continue
        name, *params = [p.strip() for p in element.split(";")]
        found = {}
        for param in params:
            key, eq, val = param.partition("=")
            key = key.strip()
            assert key not in found, f"parameter {key} twice in {value!r}"
            found[key] = val.strip().strip('"') if eq else None
        result.append((name.lower(), found))
    return result


def format_offer(params):
    """{param: value or None} → "permessage-deflate; a; b=1"."""
    return "; ".join(["permessage-deflate"] + [k if v is None else f"{k}={v}" for k, v in params.items()])


def deflate_settings(flags):
    """The permessage-deflate flags among `flags` (our programs' command
    line): {enabled, server_window, client_window, server_no_context,
    client_no_context}; a window is None when its flag is absent.
    echo_server's --deflate-shared (one compressor for the connections of a
    thread) implies --deflate-server-no-context."""
    flags = [str(f) for f in flags]
    got = {"enabled": "--no-deflate" not in flags, "server_window": None, "client_window": None,
           "server_no_context": "--deflate-server-no-context" in flags or "--deflate-shared" in flags,
           "client_no_context": "--deflate-client-no-context" in flags}
    for i, flag in enumerate(flags[:-1]):
        if flag == "--deflate-server-window":
            got["server_window"] = int(flags[i + 1])
        elif flag == "--deflate-client-window":
            got["client_window"] = int(flags[i + 1])
    return got


def wscat_offer(flags):
    """What wscat offers with `flags`: {param: value or None}, None for no
    offer. Without --deflate-client-window it offers client_max_window_bits
    without a value."""
    s = deflate_settings(flags)
    if not s["enabled"]:
        return None
    offer = {}
    if s["server_no_context"]:
        offer["server_no_context_takeover"] = None
    if s["client_no_context"]:
        offer["client_no_context_takeover"] = None
    if s["server_window"] is not None:
        offer["server_max_window_bits"] = str(s["server_window"])
    offer["client_max_window_bits"] = None if s["client_window"] is None else str(s["client_window"])
    return offer


def deflate_answer(offer, server_flags):
    """What our servers (echo_server, libuv_echo, chat_server) started with
    `server_flags` answer to one permessage-deflate `offer` ({param: value or
    None}; None for no offer): None when they decline, else (required,
    optional), each {param: value or None}: what must be in the answer, and
    what may be (the RFC leaves it to the server). From the programs' contract:
    - server_no_context_takeover when offered or --deflate-server-no-context;
    - client_no_context_takeover with --deflate-client-no-context; when only
      the client offered it, either way (§7.1.1.2: a hint);
    - server_max_window_bits when offered (§7.1.2.1: it must then be
      answered) or below 15 (--deflate-server-window): the smaller of both;
    - --deflate-client-window below 15 needs client_max_window_bits in the
      offer (else declined) and answers the smaller of both; at 15 an offered
      value may be echoed (the client holds to it either way)."""
    s = deflate_settings(server_flags)
    if offer is None or not s["enabled"]:
        return None
    server_window = s["server_window"] or 15
    client_window = s["client_window"] or 15
    if client_window < 15 and "client_max_window_bits" not in offer:
        return None
    required, optional = {}, {}
    if "server_no_context_takeover" in offer or s["server_no_context"]:
        required["server_no_context_takeover"] = None
    if s["client_no_context"]:
        required["client_no_context_takeover"] = None
    elif "client_no_context_takeover" in offer:
        optional["client_no_context_takeover"] = None
    asked = offer.get("server_max_window_bits")
    if asked is not None or server_window < 15:
        required["server_max_window_bits"] = str(min(int(asked or 15), server_window))
    if "client_max_window_bits" in offer:
        offered = offer["client_max_window_bits"]
        if client_window < 15:
            required["client_max_window_bits"] = str(min(int(offered or 15), client_window))
        elif offered is not None:
            optional["client_max_window_bits"] = offered
    return required, optional


def check_deflate_answer(value, offer, server_flags):
    """Check our server's Sec-WebSocket-Extensions answer (`value`, None when
    absent) against deflate_answer; the parameters answered ({} for a bare
    "permessage-deflate"), None when declined."""
    want = deflate_answer(offer, server_flags)
    got = parse_extensions(value)
    context = f"offer {format_offer(offer) if offer is not None else 'none'}, server flags {list(server_flags)}"
    if want is None:
        assert got == [], f"the server accepted {value!r}; it should decline ({context})"
        return None
    assert len(got) == 1 and got[0][0] == "permessage-deflate", \
        f"the server answered {value!r}, expected one permessage-deflate ({context})"
    params = got[0][1]
    required, optional = want
    for key, val in required.items():
        assert key in params and params[key] == val, \
            f"the server answered {value!r}, missing {format_offer({key: val})[20:]} ({context})"
    for key, val in params.items():
        assert key in required or (key in optional and optional[key] == val), \
            f"the server answered {value!r}: {key}={val} unexpected ({context})"
    return params


def deflate(data, wbits=15):
    """One whole message compressed as RFC 7692 §7.2.1 says: raw deflate,
    Z_SYNC_FLUSH, the final 00 00 ff ff taken off. wbits 9..15 (zlib cannot
    compress with 8)."""
    c = zlib.compressobj(wbits=-wbits)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(DEFLATE_TAIL)
    return out[:-4]


def inflate(payload, inflater, step=64):
    """A compressed message's payload inflated (§7.2.2) by `inflater` (a
    zlib.decompressobj(wbits=-bits), kept between messages for context
    takeover) at most `step` bytes per call: zlib only refuses a reference
    further back than the window it keeps plus what this call produced, so
    in small steps a peer that used a larger window than it agreed to fails
    here ("invalid distance too far back"), even inside one message."""
    out = bytearray()
    data = payload + DEFLATE_TAIL
    while True:
        chunk = inflater.decompress(data, step)
        out += chunk
        data = inflater.unconsumed_tail
        if not data and len(chunk) < step:
            return bytes(out)


_bombs = {}


def deflate_bomb(inflated_size):
    """A compressed message payload that inflates to `inflated_size` zero
    bytes, about 1/1030 of that on the wire: deflate's limit, a 258-byte match
    in two bits (so 1 GiB takes 1 MiB, not less). A piece of up to 16 MiB is
    compressed once and ends with a full flush (byte-aligned, nothing refers
    back across it), so it can simply be repeated: no 1 GiB is ever
    compressed or held. `inflated_size`: a multiple of the piece."""
    piece_size = min(inflated_size, 16 << 20)
    assert inflated_size % piece_size == 0
    if inflated_size not in _bombs:
        c = zlib.compressobj(9, zlib.DEFLATED, -15)
        piece = c.compress(bytes(piece_size)) + c.flush(zlib.Z_FULL_FLUSH)
        assert piece.endswith(DEFLATE_TAIL)
        _bombs[inflated_size] = (piece * (inflated_size // piece_size))[:-4]
    return _bombs[inflated_size]


def read_message(sock, inflater_for=None):
    """The next data message from the server over a raw socket, skipping
    control frames: (opcode, data, compressed). `inflater_for()` gives the
    zlib.decompressobj to inflate (see inflate) a message whose first frame
    had RSV1: a new one, or the same one for context takeover."""
    opcode = None
    parts = []
    compressed = False
    while True:
        fin, rsv, op, payload = read_frame_rsv(sock)
        if op >= 0x8:
            assert rsv == 0, f"RSV bits {rsv} on a control frame"
            continue
        if opcode is None:
            assert op in (OP_TEXT, OP_BINARY), f"a message began with opcode {op}"
            opcode, compressed = op, bool(rsv & 4)
            assert rsv & 3 == 0, f"RSV2/RSV3 set: {rsv}"
        else:
            assert op == OP_CONT and rsv == 0, f"opcode {op}, RSV {rsv} inside a message"
        parts.append(payload)
        if fin:
            break
    data = b"".join(parts)
    if compressed:
        data = inflate(data, inflater_for())
    return opcode, data, compressed


# ---- the case runner --------------------------------------------------------

class CaseTimeout(Exception):
    pass


def _on_alarm(signum, frame):
    raise CaseTimeout()


class Runner:
    """Runs named cases, each under its own time limit (SIGALRM, which also
    breaks blocking socket calls and asyncio.run), printing 'ok'/'FAIL' lines
    and meson's closing count. `--only NAME` (repeatable, or a prefix ending
    in '*') picks cases, `--skip NAME` leaves some out."""

    def __init__(self, description):
        self.parser = argparse.ArgumentParser(description=description)
        self.parser.add_argument("--build", default=os.path.join(SOURCE_ROOT, "build-debug"),
                                 help="meson build directory holding examples/ (default: build-debug)")
        self.parser.add_argument("--only", action="append", default=[], metavar="CASE",
                                 help="run only this case (repeatable; 'prefix*' matches several)")
        self.parser.add_argument("--skip", action="append", default=[], metavar="CASE",
                                 help="do not run this case (repeatable; 'prefix*' matches several)")
        self.parser.add_argument("--list", action="store_true", help="list the cases and exit")
        self.parser.add_argument("--io", choices=["epoll", "io_uring"], default="epoll",
                                 help="binding the example programs run on (default: epoll)")
        self.cases = []
        self.args = None
        signal.signal(signal.SIGALRM, _on_alarm)
        # meson ends a test that runs too long with SIGTERM: unwind through the
        # `finally` blocks so the programs it started are ended too.
        signal.signal(signal.SIGTERM, lambda *_: sys.exit("interrupted by SIGTERM"))

    def parse(self):
        self.args = self.parser.parse_args()
        if self.args.io == "io_uring":
            self._check_io_uring()
        return self.args

    def _check_io_uring(self):
        """Where the kernel (or a seccomp policy) refuses io_uring, the
        io_uring runs are skipped (meson's exit status 77), saying why."""
        probe = subprocess.Popen([os.path.join(self.args.build, "examples", "echo_server"), "--io", "io_uring",
                                  "--port", "0"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            line = probe.stdout.readline()
        finally:
            probe.kill()
            _, err = probe.communicate()
        if not line.startswith("listening"):
            if "io_uring is unavailable" in err:
                print(f"SKIP: {err.strip()}")
                sys.exit(77)
            sys.exit(f"echo_server --io io_uring did not start: {err.strip()}")

    # The programs that take --io (libuv_echo is libuv's, not ours).
    IO_PROGRAMS = ("echo_server", "chat_server", "wscat", "autobahn_client")

    def example(self, name):
        path = os.path.join(self.args.build, "examples", name)
        if not os.access(path, os.X_OK):
            sys.exit(f"{path} is missing: build first (meson compile -C {self.args.build})")
        if self.args.io == "epoll" or name not in self.IO_PROGRAMS:
            return path
        # Every case runs the program as a path plus its own arguments: a
        # wrapper that execs it with --io keeps the cases unchanged (exec
        # keeps the PID, so stopping and /proc readings still apply).
        if not hasattr(self, "_io_dir"):
            self._io_dir = tempfile.mkdtemp(prefix="sansws-io-")
            atexit.register(shutil.rmtree, self._io_dir, True)
        wrapper = os.path.join(self._io_dir, name)
        if not os.path.exists(wrapper):
            with open(wrapper, "w") as f:
                f.write(f'#!/bin/sh\nexec "{path}" --io {self.args.io} "$@"\n')
            os.chmod(wrapper, 0o755)
        return wrapper

    def case(self, name, timeout=30):
        def register(fn):
            self.cases.append((name, fn, timeout))
            return fn
        return register

    def _selected(self, name):
        def matches(patterns):
            return any(name == p or (p.endswith("*") and name.startswith(p[:-1])) for p in patterns)
        return (not self.args.only or matches(self.args.only)) and not matches(self.args.skip)

    def run(self):
        """Run the selected cases; exits 0 when all passed, 1 otherwise."""
        if self.args is None:
            self.parse()
        if self.args.list:
            for name, _, timeout in self.cases:
                if self._selected(name):
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
