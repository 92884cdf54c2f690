#!/usr/bin/python3
"""Write the seed corpora: fuzz/corpus/<target>/<sha256 of the content>.

Run from anywhere with /usr/bin/python3 (standard library only). The output
is deterministic: every target directory is emptied and rewritten, so the
committed files always match this script. Seeds are small (a few KiB at
most): long payloads are cut after their header, which still exercises the
length encodings; the fuzzers grow them when that pays.
"""

import hashlib
import pathlib
import struct
import zlib

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# RFC 6455 §5.7's masking key, and the §1.3 handshake.
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="  # RFC 6455 §1.3

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
OPCODES = [CONT, TEXT, BINARY, CLOSE, PING, PONG, 0x3, 0xB]
# Every length encoding and its edges (§5.2).
LENGTHS = [0, 1, 125, 126, 127, 65535, 65536]
# Cut long payloads here: the header still announces the full length.
CUT = 300


def frame(op, payload=b"", fin=True, mask=None, rsv=0, length=None, cut=None):
    """One frame; `length` overrides the announced length (for bad frames),
    `cut` truncates the payload on the wire."""
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv | op])
    m = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([m | n])
    elif n <= 0xFFFF:
        head += bytes([m | 126]) + struct.pack(">H", n)
    else:
        head += bytes([m | 127]) + struct.pack(">Q", n)
    if mask is not None:
        head += mask
        payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    if cut is not None:
        payload = payload[:cut]
    return head + payload


def pattern(n):
    return bytes((i * 7 + 3) & 0xFF for i in range(n))


def close_body(code, reason=b""):
    return struct.pack(">H", code) + reason


def frames_for(mask):
    """Frames as a peer of the given masking would send them."""
    out = [
        # §5.7 examples.
        frame(TEXT, b"Hello", mask=mask),
        frame(TEXT, b"Hel", fin=False, mask=mask) + frame(CONT, b"lo", mask=mask),
        frame(PING, b"Hello", mask=mask),
        frame(PONG, b"Hello", mask=mask),
        frame(BINARY, pattern(256), mask=mask, cut=64),
        frame(BINARY, pattern(65536), mask=mask, cut=64),
        # Every opcode, including reserved ones, at every length class.
        *[
            frame(op, pattern(n), mask=mask, cut=CUT)
            for op in OPCODES
            for n in LENGTHS
            if n <= 126 or op in (TEXT, BINARY, CONT)
        ],
        # Close payloads (§5.5.1, §7.4).
        frame(CLOSE, b"", mask=mask),
        frame(CLOSE, close_body(1000), mask=mask),
        frame(CLOSE, close_body(1000, b"bye"), mask=mask),
        frame(CLOSE, close_body(4999, "κόσμε".encode()), mask=mask),
        frame(CLOSE, b"\x03", mask=mask),
        frame(CLOSE, close_body(1005), mask=mask),
        frame(CLOSE, close_body(2999), mask=mask),
        frame(CLOSE, close_body(1000, b"\xff"), mask=mask),
        # Fragmentation with a control frame in the middle (§5.4).
        frame(TEXT, "κό".encode(), fin=False, mask=mask)
        + frame(PING, b"", mask=mask)
        + frame(CONT, "σμε".encode(), mask=mask),
        # UTF-8 split across fragments, and invalid UTF-8 late in a message.
        frame(TEXT, b"\xce", fin=False, mask=mask) + frame(CONT, b"\xba", mask=mask),
        frame(TEXT, b"ok", fin=False, mask=mask) + frame(CONT, b"\xed\xa0\x80", mask=mask),
        # A conversation: message, ping, close, then data after the close.
        frame(BINARY, b"abc", mask=mask)
        + frame(PING, b"p", mask=mask)
        + frame(CLOSE, close_body(1000), mask=mask)
        + frame(TEXT, b"late", mask=mask),
        # Protocol violations (§5.1, §5.2, §5.4, §5.5).
        frame(TEXT, b"x", mask=mask, rsv=0x40),
        frame(PING, b"", fin=False, mask=mask),
        frame(PING, pattern(126), mask=mask),
        frame(CONT, b"x", mask=mask),
        frame(TEXT, b"a", fin=False, mask=mask) + frame(TEXT, b"b", mask=mask),
        frame(BINARY, b"", mask=KEY if mask is None else None),
        bytes([0x82, (0x80 if mask else 0) | 126, 0x00, 0x05]) + (mask or b""),
        bytes([0x82, (0x80 if mask else 0) | 127]) + struct.pack(">Q", 0xFFFF) + (mask or b""),
        bytes([0x82, (0x80 if mask else 0) | 127]) + struct.pack(">Q", 1 << 63) + (mask or b""),
    ]
    return out


def http(lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


REQUEST = [
    "GET /chat HTTP/1.1",
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    "Sec-WebSocket-Key: " + SAMPLE_KEY,
    "Origin: http://example.com",
    "Sec-WebSocket-Protocol: chat, superchat",
    "Sec-WebSocket-Version: 13",
]


def replace(lines, prefix, new):
    """`lines` with the line starting with `prefix` replaced (None drops it)."""
    out = []
    for line in lines:
        if line.lower().startswith(prefix.lower()):
            if new is not None:
                out.append(new)
        else:
            out.append(line)
    return out


def requests():
    r = REQUEST
    return [
        http(r),  # §1.3
        http(r[:5] + ["Sec-WebSocket-Version: 13"]),  # §4.1 minimal
        ("\n".join(r) + "\n\n").encode(),  # bare LF line ends
        b"\r\n\r\n" + http(r),  # empty lines before the request line
        http([line.lower() if ":" in line else line for line in r]),
        http(replace(r, "Connection:", "Connection: keep-alive, Upgrade")),
        http(replace(r, "Upgrade:", "Upgrade: WebSocket")),
        http(r + ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"]),
        http(r + ["X-Empty:", "X-Spaces:   padded value \t"]),
        http(r, frame(TEXT, b"early", mask=KEY)),  # frames right behind the head
        # Refusals (§4.2.1, §4.4).
        http(replace(r, "GET", "POST /chat HTTP/1.1")),
        http(replace(r, "GET", "GET /chat HTTP/1.0")),
        http(replace(r, "Host:", None)),
        http(r + ["Host: other.example.com"]),
        http(replace(r, "Host:", "Host:")),
        http(replace(r, "Upgrade:", None)),
        http(replace(r, "Connection:", "Connection: keep-alive")),
        http(replace(r, "Sec-WebSocket-Version:", "Sec-WebSocket-Version: 8")),
        http(replace(r, "Sec-WebSocket-Version:", None)),
        http(replace(r, "Sec-WebSocket-Key:", "Sec-WebSocket-Key: short")),
        http(replace(r, "Sec-WebSocket-Key:", None)),
        http(r + ["Sec-WebSocket-Key: " + SAMPLE_KEY]),
        http(replace(r, "Sec-WebSocket-Key:", "Sec-WebSocket-Key1: 4 @1  46546xW%0l 1 5")),
        # Malformed heads.
        http(r + [" folded continuation"]),
        http(r + ["Bad Name: value"]),
        http(r + ["NoColon"]),
        http(r + ["X-Ctl: a\x01b"]),
        http(r + ["X-Latin: caf\u00e9"]).replace(b"caf\xc3\xa9", b"caf\xe9"),
        http(replace(r, "GET", "GET /a b HTTP/1.1")),
        http(replace(r, "GET", "GET /chat HTTP/1.1 ")),
        http(r[:1] + ["X-H%d: v" % i for i in range(101)] + r[1:]),
        http(r + ["X-Big: " + "a" * 2000]),
        http(r)[:-2],  # no final empty line
    ]


def response(key_accept=SAMPLE_ACCEPT, extra=()):
    return [
        "HTTP/1.1 101 Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: " + key_accept,
        *extra,
    ]


def responses():
    ok = response()
    return [
        http(ok),
        http(response(extra=["Sec-WebSocket-Protocol: chat"])),  # §1.3
        http(response(extra=["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"])),
        ("\n".join(ok) + "\n\n").encode(),
        http(["HTTP/1.1 101"] + ok[1:]),
        http(ok, frame(TEXT, b"Hello")),
        http(replace(ok, "Upgrade:", "Upgrade: websocket, h2c")),
        http(replace(ok, "Connection:", "Connection: keep-alive, upgrade")),
        http(response(extra=["Sec-WebSocket-Protocol: chat, superchat"])),
        http(response(extra=["Sec-WebSocket-Protocol: other"])),
        http(response(extra=["Sec-WebSocket-Extensions: x-unknown"])),
        http(response(key_accept="AAAAAAAAAAAAAAAAAAAAAAAAAAA=")),
        http(ok + ["Sec-WebSocket-Accept: " + SAMPLE_ACCEPT]),
        http(replace(ok, "HTTP/1.1 101", "HTTP/1.0 101 Switching Protocols")),
        http(["HTTP/1.1 400 Bad Request", "Content-Length: 11"], b"bad request"),
        http(["HTTP/1.1 426 Upgrade Required", "Sec-WebSocket-Version: 13", "Content-Length: 0"]),
        http(["HTTP/1.1 200 OK", "Content-Type: text/plain"], b"hello"),
        http(["HTTP/1.1 1010 Nope"]),
        http(["HTTP/1.1 10x Nope"]),
        http(["HTTP/1.1 101 Switching Protocols", "X-H: " + "v" * 1500]),
    ]


def utf8_cases():
    points = [0x0, 0x7F, 0x80, 0x7FF, 0x800, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF, 0x10000, 0x10FFFF]
    valid = [chr(p).encode("utf-8") for p in points]
    invalid = [
        b"\xc0\x80", b"\xc1\xbf", b"\xe0\x80\x80", b"\xe0\x9f\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
        b"\xf0\x80\x80\x80", b"\xf0\x8f\xbf\xbf", b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8",
        b"\xff", b"\x80", b"\xbf", b"\xe2\x82", b"\xf0\x9f\x98",
    ]
    text = "Hello-µ@ßöäüàá-UTF-8!! κόσμε 日本語 😀".encode()
    return [
        b"",
        text,
        b"".join(valid),
        *valid,
        *invalid,
        # A bad byte at each place around the eight-byte ASCII step.
        *[b"a" * k + b"\xff" + b"a" * 9 for k in (0, 7, 8, 9, 15, 16, 17)],
        *[b"a" * k + "€".encode() + b"a" * 8 for k in (5, 6, 7, 8)],
        text + b"\xed\xa0\x80" + text,
    ]


def engine_input(flags, opts=0, script=b"", peer=b""):
    """The input layout of engine_script.hpp."""
    return bytes([flags, opts, len(script)]) + script + peer


def receive_exactly(n):
    """Script: receive n bytes (1..256) and drain the events."""
    assert 1 <= n <= 256
    return bytes([0x00, n - 1])


# permessage-deflate (RFC 7692) for the engine targets.
RSV1 = 0x40


class Deflater:
    """A sender's compressor (§7.2.1): raw DEFLATE, each message ended with a
    sync flush whose 00 00 ff ff is removed; `takeover=False` starts every
    message from an empty window (*_no_context_takeover)."""

    def __init__(self, wbits=15, takeover=True):
        self.wbits, self.takeover = wbits, takeover
        self.z = zlib.compressobj(wbits=-wbits)

    def __call__(self, data):
        if not self.takeover:
            self.z = zlib.compressobj(wbits=-self.wbits)
        out = self.z.compress(data) + self.z.flush(zlib.Z_SYNC_FLUSH)
        assert out.endswith(b"\x00\x00\xff\xff")
        return out[:-4]


def deflated(data, wbits=15):
    return Deflater(wbits)(data)


def zbytes(server_bits=15, client_bits=15, snct=False, cnct=False, threshold=0, chunk=0, cap=0, level=0,
           form=0, step=0, peer_flags=False, shared=0, invalid=False, side_off=False):
    """The four compression bytes of read_compression (engine_script.hpp).
    threshold {64, 0, 1, 1000}, chunk {16384, 1, 7, 100}, cap {256 over 1 MiB,
    none, 2 over 64, 1 over 0}, level/mem_level {-1/8, 0/8, 1/1, 9/9}: indexes;
    form: the offer (server) or answer (client) in the prefix; shared
    compressor {none, 9, 12, 15}; side_off: roundtrip's "this side off"."""
    z0 = (server_bits - 8) | (client_bits - 8) << 3 | (0x40 if snct else 0) | (0x80 if cnct else 0)
    z1 = threshold | chunk << 2 | cap << 4 | level << 6
    z2 = form | step << 4 | (0x80 if peer_flags else 0) | (1 if side_off else 0)
    z3 = shared | (4 if invalid else 0)
    return bytes([z0, z1, z2, z3])


def engine_z(flags, z, opts=0, script=b"", peer=b""):
    """engine_input with permessage-deflate on (opts 32 and the four bytes)."""
    return bytes([flags, opts | 0x20]) + z + bytes([len(script)]) + script + peer


JSON = b'{"id": 1, "name": "sansws", "tags": ["a", "b", "c"], "ok": true}' * 4


def answer_length(ext_lines):
    """Length of the 101 the client harness answers with (answer_for)."""
    return len(http(response(key_accept="A" * 28, extra=["Sec-WebSocket-Extensions: " + e for e in ext_lines])))


def server_inputs():
    server_deflate = server_deflate_inputs()
    m = KEY
    hello = frame(TEXT, b"Hello", mask=m)
    request = http(REQUEST)
    up = receive_exactly(len(request))  # with flag 1: the request, accepted
    return [engine_input(1, peer=f) for f in frames_for(m)] + [
        engine_input(0, peer=request),
        # Receive the request, accept it, then frames.
        engine_input(0, script=up + bytes([0x0D]), peer=request + hello),
        # ... or refuse it with 403 and a body.
        engine_input(0, script=up + bytes([0x0E, 1, 4]) + b"nope", peer=request),
        engine_input(0, peer=http(replace(REQUEST, "Host:", None))),
        # Streaming, echo, end of transport.
        engine_input(1 | 2 | 32 | 128, peer=frame(TEXT, b"Hel", fin=False, mask=m)
                     + frame(PING, b"Hello", mask=m) + frame(CONT, b"lo", mask=m) + hello),
        engine_input(1 | 4, peer=frame(BINARY, pattern(101), mask=m)),
        # Sends of every kind, then a close, with output flushed along the way.
        engine_input(1, script=up + bytes([0x16, 2]) + b"hi" + bytes([0x17, 3]) + b"abc"
                     + bytes([0x19, 1]) + b"p" + bytes([0x1A, 0]) + bytes([0x18, 70])
                     + bytes([0x1B, 0, 3]) + b"bye", peer=hello),
        # A fragmented send left open, then time passing every deadline.
        engine_input(1 | 16, 4, script=up + bytes([0x46, 1]) + b"a" + bytes([0x0C, 3, 0x1C, 4, 0x1C, 7])),
        engine_input(1, 4, script=up + bytes([0x1B, 0, 0, 0x0C, 5, 0x0C, 7])),
        engine_input(0, 8, script=bytes([0x0C, 4, 0x0C, 7])),
        # Input left pending while sending.
        engine_input(1, script=up + bytes([0x03, 40, 0x16, 1]) + b"x" + bytes([0x04, 0x05]), peer=hello * 4),
    ] + server_deflate


def server_deflate_inputs():
    """permessage-deflate (RFC 7692) in the server role: with flag 1 the
    prefix request carries the offer its z2 form chooses (offer_lines); the
    client's frames are compressed, RSV1 on the first frame only (§6)."""
    m = KEY
    hello_z = frame(TEXT, deflated(b"Hello"), mask=m, rsv=RSV1)  # §7.2.3.1
    ctx = Deflater()
    two = frame(TEXT, ctx(JSON), mask=m, rsv=RSV1) + frame(TEXT, ctx(JSON), mask=m, rsv=RSV1)
    jz = deflated(JSON)
    frag = (frame(TEXT, jz[:10], fin=False, mask=m, rsv=RSV1) + frame(PING, b"p", mask=m)
            + frame(CONT, jz[10:], mask=m))
    fresh = Deflater(9, takeover=False)
    narrow = frame(BINARY, fresh(JSON), mask=m, rsv=RSV1) + frame(TEXT, fresh(JSON), mask=m, rsv=RSV1)
    bomb = frame(BINARY, deflated(bytes(100000)), mask=m, rsv=RSV1)
    # The vectors of the notes: a stored block, BFINAL = 1, two blocks, and
    # the empty message both as 00 and as an empty payload (§7.2.3).
    vectors = b"".join(frame(TEXT, bytes.fromhex(h), mask=m, rsv=RSV1) for h in (
        "000500faff48656c6c6f00", "f348cdc9c90700", "f348cdc9c9070000", "f248050000 00ffffcac9c90700".replace(" ", ""),
        "00", ""))
    plain = zbytes(form=1)
    offered = http(REQUEST + ["Sec-WebSocket-Extensions: permessage-deflate"])
    up_z = receive_exactly(256) + receive_exactly(len(offered) - 256)
    # Sends: text compressed (length byte + 48), binary not (+ 96), a
    # fragmented text compressed, prepared text and binary messages (op 8
    # with 64: 10 bytes four times, window 9, threshold 0), then a close.
    sends = (bytes([0x16, 2 + 48]) + b"hi" + bytes([0x17, 3 + 96]) + b"abc"
             + bytes([0x46, 3 + 48]) + b"abc" + bytes([0x16, 2]) + b"de"
             + bytes([0xD8, 10 + 3 * 48]) + b"0123456789" + bytes([0x01])
             + bytes([0x58, 10 + 3 * 48]) + b"\x00\xff" * 5 + bytes([0x01])
             + bytes([0x1B, 0, 3]) + b"bye")
    request_z = http(REQUEST + ["Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10"])
    return [
        engine_z(1, plain, peer=hello_z),
        engine_z(1, plain, peer=two + frag),  # context takeover, a ping between fragments
        engine_z(1 | 2, zbytes(form=2, chunk=1), peer=two + frag),  # streamed a byte at a time
        engine_z(1, zbytes(server_bits=9, client_bits=9, cnct=True, form=3, step=6), peer=narrow),
        engine_z(1, plain, peer=frame(PING, b"x", mask=m, rsv=RSV1)),  # 1002
        engine_z(1, plain, peer=frame(TEXT, jz[:5], fin=False, mask=m, rsv=RSV1)
                 + frame(CONT, jz[5:], mask=m, rsv=RSV1)),  # RSV1 on a continuation: 1002
        engine_z(1, plain, peer=frame(BINARY, b"\xff\xff\xff\xff", mask=m, rsv=RSV1)),  # 1007
        engine_z(1, plain, peer=frame(TEXT, deflated(b"ok \xff"), mask=m, rsv=RSV1)),  # 1007 after inflation
        engine_z(1 | 4, plain, peer=bomb),  # 100 KB against 100 bytes: 1009
        engine_z(1 | 2, zbytes(form=1, cap=2, chunk=3), peer=bomb),  # the ratio cap: 1009
        engine_z(1, zbytes(form=0), peer=hello_z),  # not agreed: RSV1 is 1002
        engine_z(1, plain, peer=vectors),
        # The peer keeps its window though it agreed to reset it: 1007.
        engine_z(1, zbytes(form=1, cnct=True), peer=two),
        engine_z(1 | 32, zbytes(form=1, threshold=1), script=up_z + sends, peer=two),
        engine_z(1 | 32, zbytes(form=1, snct=True, shared=1, threshold=1), peer=two + hello_z),
        engine_z(1 | 32, zbytes(form=1, level=2, threshold=2), peer=two),
        engine_z(1 | 32 | 64, zbytes(form=5, step=7, threshold=1), peer=frag),  # window 8: sent uncompressed
        engine_z(0, zbytes(invalid=True), peer=hello_z),  # setup error
        engine_z(0, zbytes(invalid=True, threshold=3), peer=hello_z),
        *[engine_z(1, zbytes(form=f, step=3, peer_flags=True), peer=hello_z) for f in (4, 8, 11)],
        # The request in the peer's bytes, accepted by the script.
        engine_z(0, zbytes(), script=receive_exactly(256) + receive_exactly(len(request_z) - 256) + bytes([0x0D]),
                 peer=request_z + hello_z),
    ]


def client_inputs():
    hello = frame(TEXT, b"Hello")
    # With flag 1: the 101, the same length for any key (an accept value is
    # 28 characters, as SAMPLE_ACCEPT).
    up = receive_exactly(answer_length([]))
    return [engine_input(1, peer=f) for f in frames_for(None)] + [
        engine_input(0, peer=http(["HTTP/1.1 403 Forbidden", "Content-Length: 5"], b"nope!")),
        engine_input(128, 2, peer=http(["HTTP/1.1 500 Oops"], b"x" * 40)),
        engine_input(0, peer=http(response())),  # the §1.3 answer, for another key
        engine_input(0, 16, peer=http(["HTTP/1.1 101 Switching Protocols"])),
        engine_input(1 | 2 | 32 | 128, peer=frame(TEXT, b"Hel", fin=False) + frame(PING, b"Hello")
                     + frame(CONT, b"lo") + hello),
        engine_input(1, script=up + bytes([0x16, 2]) + b"hi" + bytes([0x19, 1]) + b"p"
                     + bytes([0x1B, 0, 3]) + b"bye", peer=hello + frame(CLOSE, close_body(1000))),
        engine_input(1 | 16, 4, script=up + bytes([0x0C, 3, 0x1C, 4, 0x1C, 7])),
        engine_input(1, 4, script=up + bytes([0x1B, 0, 0, 0x0C, 5, 0x0C, 7])),
        engine_input(0, 0xE0, peer=hello),  # no host: setup error
    ] + client_deflate_inputs()


def client_deflate_inputs():
    """permessage-deflate in the client role: with flag 1 the harness answers
    with the form z2 chooses (make_answer: valid ones must be taken as they
    stand, invalid ones must fail the handshake); the server's frames are
    compressed."""
    hello_z = bytes.fromhex("c107f248cdc9c90700")  # §7.2.3.1
    ctx = Deflater()
    two = frame(TEXT, ctx(JSON), rsv=RSV1) + frame(BINARY, ctx(JSON), rsv=RSV1)
    jz = deflated(JSON)
    frag = frame(TEXT, jz[:10], fin=False, rsv=RSV1) + frame(PING, b"p") + frame(CONT, jz[10:])
    fresh = Deflater(10, takeover=False)
    narrow = frame(TEXT, fresh(JSON), rsv=RSV1) + frame(TEXT, fresh(JSON), rsv=RSV1)
    plain = zbytes(form=1)
    up = receive_exactly(answer_length(["permessage-deflate"]))
    sends = (bytes([0x16, 2 + 48]) + b"hi" + bytes([0x17, 3 + 96]) + b"abc"
             + bytes([0x46, 3 + 48]) + b"abc" + bytes([0x19, 1]) + b"p" + bytes([0x16, 2 + 96]) + b"de"
             + bytes([0xD8, 10 + 3 * 48]) + b"0123456789" + bytes([0x02])
             + bytes([0x1B, 0, 3]) + b"bye")
    return [
        engine_z(1, plain, peer=hello_z),
        engine_z(1, plain, peer=two + frag),
        engine_z(1 | 2, zbytes(form=1, chunk=2), peer=two + frag),  # streamed 7 bytes at a time
        # Both windows 10 and both no_context_takeover, answered (form 2).
        engine_z(1, zbytes(form=2, step=5, peer_flags=True), peer=narrow + frag),
        # §7.1.1.1: server_no_context_takeover answered unasked (form 6).
        engine_z(1, zbytes(form=6), peer=frame(TEXT, Deflater(takeover=False)(JSON), rsv=RSV1) * 2),
        # Windows of 8 bits: the client sends uncompressed, inflates with 256 bytes.
        engine_z(1 | 32, zbytes(form=5, threshold=1), peer=frame(BINARY, deflated(b"Hello" * 3, 9), rsv=RSV1)),
        engine_z(1, zbytes(form=0), peer=hello_z),  # declined: RSV1 is 1002
        engine_z(1, plain, peer=frame(PING, b"", rsv=RSV1)),  # 1002
        engine_z(1, plain, peer=frame(BINARY, b"\x02\xff\xff\xff", rsv=RSV1)),  # 1007
        engine_z(1 | 4, plain, peer=frame(BINARY, deflated(bytes(50000)), rsv=RSV1)),  # 1009
        engine_z(1, plain, script=up + sends, peer=hello_z + frame(CLOSE, close_body(1000))),
        engine_z(1 | 32, zbytes(form=2, peer_flags=True, shared=3, threshold=1),
                 peer=frame(TEXT, Deflater(takeover=False)(JSON), rsv=RSV1) * 2 + hello_z),
        engine_z(0, zbytes(invalid=True, threshold=3)),  # setup error: no request at all
        # Answers the client must refuse (§7.1).
        *[engine_z(1, zbytes(form=f, step=1), peer=hello_z) for f in (7, 9, 12, 13, 14)],
        engine_z(1, zbytes(client_bits=10, form=10), peer=hello_z),  # client window above its offer
        engine_z(1, zbytes(server_bits=12, snct=True, form=1), peer=hello_z),
    ]


def roundtrip_inputs():
    def text(n, frags=0, tag=0x40):
        return bytes([tag, n]) + bytes(range(0, 256, max(1, 256 // max(n, 1))))[:n] + bytes([frags])

    def binary(data, frags=0, tag=0x41):
        return bytes([tag, len(data)]) + data + bytes([frags])

    def ping(data, tag=0x42):
        return bytes([tag, len(data)]) + data

    def large(size_class, extra, frags=0, tag=0x43):
        return bytes([tag, size_class, extra, frags])

    return [
        b"\x00",
        b"\x00" + text(5) + binary(b"abc") + ping(b"p"),
        b"\x03" + text(40, 3) + binary(b"\x00\xff" * 20, 2) + text(8, 1, tag=0xC0),
        b"\x00" + large(0, 125) + large(0, 126) + large(4, 255) + large(5, 136),
        b"\x01" + large(7, 0, 3) + ping(b"", tag=0xC2),
        b"\x02" + binary(b"zero-copy" * 3, 0, tag=0xE1) + large(3, 200, 0, tag=0xE3),
        b"\x00" + text(60, 3, tag=0x00) + text(60, 3, tag=0x80) + ping(b"q" * 125),
    ] + [
        # permessage-deflate (byte 0 & 4; then the client's and the server's
        # compression bytes). Tag bits 0x0C: 4 on, 8 off, 12 prepared.
        b"\x04" + zbytes() + zbytes() + text(40) + binary(JSON[:200]) + ping(b"p") + text(100, tag=0xC0),
        b"\x07" + zbytes(chunk=2) + zbytes(chunk=2, threshold=1) + text(60, 3, tag=0x44) + text(60, 0, tag=0x48)
        + binary(JSON[:150], 2, tag=0xC5) + large(3, 200, 0, tag=0x43) + ping(b"", tag=0xC2),
        # Windows 9..12, no context takeover both ways, a shared compressor,
        # prepared messages (their window may exceed the agreed one).
        b"\x04" + zbytes(server_bits=9, client_bits=12, cnct=True) + zbytes(server_bits=10, client_bits=9, snct=True,
                                                                            shared=1)
        + text(100, 0, tag=0x4C) + large(4, 255, 0, tag=0xCF) + binary(b"xyz" * 40, 2, tag=0x45)
        + large(7, 0, 3, tag=0x43) + text(30, 0, tag=0xCC) + text(30, 0, tag=0x0C),
        b"\x04" + zbytes(side_off=True) + zbytes() + text(40, 0, tag=0x44) + text(40, 0, tag=0xC4),
        # The server limited to 8 bits: it sends uncompressed (zlib cannot).
        b"\x05" + zbytes(server_bits=8) + zbytes() + text(80, 1, tag=0xC4) + text(80, 1, tag=0x44)
        + text(80, 0, tag=0xCC),
        b"\x06" + zbytes(level=2) + zbytes(level=3, threshold=2) + large(3, 100) + binary(b"", 0, tag=0x45)
        + text(0, 0, tag=0xC4) + binary(b"a", 0, tag=0xC1),
        b"\x04" + zbytes(threshold=1) + zbytes(threshold=3, level=1) + binary(b"zero-copy" * 3, 0, tag=0xE1)
        + large(3, 200, 0, tag=0xE3) + large(6, 0, 1, tag=0xE7),
    ]


def split_inputs():
    k = KEY
    return [
        bytes([flags]) + f for flags, mask in ((1, k), (1 | 4, None)) for f in frames_for(mask)
    ] + [
        bytes([1 | 2]) + frame(TEXT, "κόσμε".encode() * 10, fin=False, mask=k)
        + frame(PING, b"x", mask=k) + frame(CONT, b"ok\xed\xa0\x80", mask=k),
        bytes([1 | 2 | 8]) + frame(TEXT, "κόσμε".encode() * 20, mask=k),
        bytes([1 | 16]) + frame(BINARY, pattern(101), mask=k),
        bytes([1 | 4 | 2]) + frame(TEXT, b"Hel", fin=False) + frame(CONT, b"lo") + frame(CLOSE, close_body(1000)),
        bytes([0]) + http(REQUEST) + frame(TEXT, b"early", mask=k),
        bytes([8]) + http(REQUEST)[:50],
        bytes([4]) + http(["HTTP/1.1 403 Forbidden", "Content-Length: 5"], b"nope!"),
    ] + split_deflate_inputs()


def split_deflate_inputs():
    """permessage-deflate (flag 32 and the four compression bytes): compressed
    messages whole and in pieces, streamed in small chunks, and the failures
    (1002, 1007, 1009) that must not depend on the split."""
    k = KEY
    ctx = Deflater()
    two = frame(TEXT, ctx(JSON), mask=k, rsv=RSV1) + frame(BINARY, ctx(JSON), mask=k, rsv=RSV1)
    jz = deflated(JSON)
    frag = (frame(TEXT, jz[:10], fin=False, mask=k, rsv=RSV1) + frame(PING, b"p", mask=k)
            + frame(CONT, jz[10:], mask=k))
    bomb = frame(BINARY, deflated(bytes(100000)), mask=k, rsv=RSV1)
    fresh = Deflater(12, takeover=False)
    to_client = (frame(TEXT, fresh(JSON), rsv=RSV1) + frame(PING, b"x")
                 + frame(TEXT, fresh(JSON)[:7], fin=False, rsv=RSV1) + frame(CONT, fresh(JSON)[7:])
                 + frame(CLOSE, close_body(1000)))
    greek = "κόσμε".encode() * 20
    plain = zbytes(form=1)
    return [
        bytes([1 | 32]) + plain + two + frag,
        bytes([1 | 2 | 32]) + zbytes(form=1, chunk=1) + two + frag,
        bytes([1 | 2 | 32]) + zbytes(form=1, chunk=3) + frame(TEXT, deflated(greek), mask=k, rsv=RSV1),
        bytes([1 | 16 | 32]) + plain + bomb,
        bytes([1 | 2 | 32]) + zbytes(form=1, cap=2, chunk=3) + bomb,
        bytes([1 | 4 | 32]) + zbytes(form=2, step=3, peer_flags=True) + to_client,
        bytes([1 | 2 | 32]) + zbytes(form=1, chunk=2) + frame(TEXT, jz[:20] + b"\xff" * 8, mask=k, rsv=RSV1),
        bytes([1 | 2 | 32]) + zbytes(form=1, chunk=2)
        + frame(TEXT, deflated(greek + b"\xed\xa0\x80"), mask=k, rsv=RSV1),
        bytes([1 | 32 | 8]) + plain + frame(TEXT, jz[:30], fin=False, mask=k, rsv=RSV1),
        bytes([1 | 32]) + plain + frame(PING, b"", mask=k, rsv=RSV1),
        bytes([1 | 32]) + zbytes(form=0) + two,
    ]


def deflate_negotiation_inputs():
    # Sec-WebSocket-Extensions values (owned by the deflate_negotiation target):
    # a selector byte (server policies and client options, see
    # deflate_negotiation.cpp), then the header value (RFC 6455 §9.1,
    # RFC 7692 §7.1).
    pmd = "permessage-deflate"
    valid = [
        pmd,  # Firefox
        pmd + "; client_max_window_bits",  # Chrome, Node ws, Python websockets
        pmd + "; client_max_window_bits, x-webkit-deflate-frame",  # older Safari
        "x-webkit-deflate-frame, " + pmd,
        pmd + "; server_max_window_bits=12; client_max_window_bits=12",
        pmd + "; client_no_context_takeover; server_no_context_takeover",
        pmd + "; server_no_context_takeover; client_no_context_takeover; "
        "server_max_window_bits=9; client_max_window_bits=11",
        pmd + "; server_max_window_bits=8; client_max_window_bits=8",
        pmd + "; server_max_window_bits=15; client_max_window_bits=15",
        pmd + '; server_max_window_bits="10"; client_max_window_bits="1\\1"',
        "PerMessage-Deflate; Server_Max_Window_Bits=9; CLIENT_NO_CONTEXT_TAKEOVER",
        # Several offers, most preferred first (§5.1), one of them bad.
        pmd + "; server_max_window_bits=10; client_max_window_bits=10, " + pmd + "; client_max_window_bits",
        pmd + "; foo, " + pmd + "; server_max_window_bits=12",
        pmd + "; server_max_window_bits=16, " + pmd + "; server_max_window_bits=07, " + pmd,
        # Two header lines joined, OWS and empty elements (RFC 7230 §7).
        "foo, bar; baz=2",
        "mux; max-channels=4; flow-control, deflate-stream",
        " \t" + pmd + " ; server_max_window_bits = 10 ,\t, x ",
        ", ," + pmd + ",,",
    ]
    declined = [
        pmd + "; server_max_window_bits=" + v
        for v in ("7", "16", "08", "+9", "abc", '" 9"', '""', "")
    ] + [
        pmd + "; client_max_window_bits=" + v for v in ("7", "16", "015", "-9")
    ] + [
        pmd + "; server_max_window_bits",
        pmd + "; server_no_context_takeover=1",
        pmd + '; client_no_context_takeover="x"',
        pmd + "; server_no_context_takeover; server_no_context_takeover",
        pmd + "; client_max_window_bits; Client_Max_Window_Bits=9",
        pmd + "; max_window_bits=10",
        "x-webkit-deflate-frame; max_window_bits=10",
    ]
    # Answers a client checks (the first element is read as an answer too).
    answers = [
        pmd + "; client_max_window_bits=10; server_max_window_bits=10",
        pmd + "; server_max_window_bits=11",
        pmd + "; client_max_window_bits=9; server_no_context_takeover",
    ]
    malformed = [
        "", ";", "a;", "a b", "a;b=", 'a;b="1', 'a;b="1\\', 'a;b="\x01"', 'a;b="\\\x7f"',
        'a;b="x y"', "a\r\n b", "a," * 40, "a" + ";p" * 20,
    ]
    selectors = [0x00, 0x3F, 0xC7, 0x52, 0xFF, 0x09]
    out = []
    for i, value in enumerate(valid + declined + answers + malformed):
        out.append(bytes([selectors[i % len(selectors)]]) + value.encode("latin-1"))
    # The same Chrome offer under every policy family.
    out += [bytes([s]) + (pmd + "; client_max_window_bits").encode() for s in (0x01, 0x80, 0x40, 0x38)]
    return out


def inflate_inputs():
    """Layout in fuzz/inflate.cpp: mode, room, options, message count, the
    lengths of all messages but the last, then the messages."""
    import zlib

    def seed(messages, window=15, room=0x3F, opts=0, round_trip=False):
        mode = (8 | (window - 9) << 4) if round_trip else window - 8
        head = bytes([mode, room, opts, len(messages) - 1])
        head += b"".join(struct.pack(">H", len(m)) for m in messages[:-1])
        return head + b"".join(messages)

    def raw(data, window=15, level=6, zdict=b"", finish=False):
        """zlib's raw DEFLATE; a sync flush loses its 00 00 ff ff (§7.2.1)."""
        c = zlib.compressobj(level, zlib.DEFLATED, -window, 8, zlib.Z_DEFAULT_STRATEGY, zdict) if zdict else \
            zlib.compressobj(level, zlib.DEFLATED, -window)
        out = c.compress(data) + c.flush(zlib.Z_FINISH if finish else zlib.Z_SYNC_FLUSH)
        if not finish:
            assert out.endswith(b"\x00\x00\xff\xff")
            out = out[:-4]
        return out

    def messages(texts, window=15, level=6):
        """Messages of one compressor with context takeover (§7.2.3.2)."""
        c = zlib.compressobj(level, zlib.DEFLATED, -window)
        out = []
        for t in texts:
            m = c.compress(t) + c.flush(zlib.Z_SYNC_FLUSH)
            out.append(m[:-4])
        return out

    def json_text(n, k):
        s = "".join('{"id":%d,"user":"u%d","score":%d.%02d,"ok":%s}\n'
                    % (i * 37 % 1000, (i + k) % 17, i * 13 % 500, i % 100, "true" if i % 3 else "false")
                    for i in range(k, k + n))
        return s.encode()

    # RFC 7692 §7.2.3's vectors, each "Hello".
    hello = bytes.fromhex("f248cdc9c90700")
    hello_again = bytes.fromhex("f200110000")
    stored = bytes.fromhex("000500faff48656c6c6f00")
    bfinal = bytes.fromhex("f348cdc9c9070000")
    two_blocks = bytes.fromhex("f248050000 00ffff cac9c90700".replace(" ", ""))
    text = json_text(40, 0)
    period300 = bytes((i * 7919 >> 3) & 0xFF for i in range(300)) * 6
    finished = raw(b"Hello", finish=True)
    return [
        seed([hello], room=0x00),
        seed([hello]),
        seed([hello], window=8, room=0x02),
        seed([hello, hello_again], room=0x01),
        seed([stored], room=0x03),
        seed([bfinal], room=0x00),
        seed([two_blocks], window=9),
        seed([b"\x00"]),
        seed([b""]),
        seed([hello, b"\x00", b"", hello_again]),
        # A BFINAL block, then messages using its window, and data after
        # a BFINAL block within one message.
        seed([finished, raw(b"Hello, Hello!", zdict=b"Hello", finish=True),
              raw(b"Hello!", zdict=b"HelloHello, Hello!")], room=0x02),
        seed([finished + raw(b" Hello", zdict=b"Hello")]),
        # zlib's output for JSON at several windows, levels and rooms.
        seed(messages([text, json_text(40, 5), text], window=9), window=9, room=0x7F),
        seed(messages([text, json_text(40, 5)], window=12), window=12, room=0x05),
        seed(messages([text, text[:700]], window=15, level=9), window=15, room=0xBF),
        seed(messages([text], level=0), room=0x41),
        seed(messages([text[:900]], level=1), window=13, room=0x20),
        seed([raw(text), raw(text)], room=0x3F, opts=1),  # no context takeover
        # A 1 MiB bomb, and runs, at rooms that make the cap bite.
        seed([raw(bytes(1 << 20), level=9)], room=0xFF),
        seed([raw(bytes(1 << 20), level=9)], room=0x00),
        seed([raw(b"a" * 65536, window=10)], window=10, room=0x3F),
        # Within a window of 8 bits, and beyond it.
        seed([raw(period300[:100] * 20, window=9, level=9)], window=8, room=0x10),
        seed([raw(period300, window=9, level=9)], window=8, room=0x00),
        # Garbage and truncation.
        seed([b"\xff\xff\xff\xff"]),
        seed([b"\x07\x00"]),
        seed([hello[:2]]),
        seed([hashlib.sha256(b"garbage").digest() * 4]),
        seed([b"\x01\x05\x00\x05\x00Hello"]),
        # Round trips: plain messages, several settings.
        seed([b"Hello", b"Hello"], window=15, round_trip=True, opts=(7 * 11 + 7) << 1),
        seed([text, json_text(30, 9), b""], window=9, round_trip=True, room=0x03, opts=(0 * 11 + 0) << 1),
        seed([period300, text[:500]], window=12, round_trip=True, room=0x7F, opts=((3 * 11 + 10) << 1) | 1),
        seed([bytes(range(256)) * 4], window=10, round_trip=True, room=0x00, opts=(8 * 11 + 1) << 1),
    ]


def corpora():
    return {
        "frame_parser_server": frames_for(KEY),
        "frame_parser_client": frames_for(None),
        "handshake_request": requests(),
        "handshake_response": responses(),
        "connection_server": server_inputs(),
        "connection_client": client_inputs(),
        "utf8": utf8_cases(),
        "roundtrip": roundtrip_inputs(),
        "split_invariance": split_inputs(),
        "deflate_negotiation": deflate_negotiation_inputs(),
        "inflate": inflate_inputs(),
    }


def main():
    total = 0
    for target, inputs in corpora().items():
        d = CORPUS / target
        d.mkdir(parents=True, exist_ok=True)
        for old in d.iterdir():
            old.unlink()
        for data in inputs:
            assert len(data) <= 8192, (target, len(data))
            (d / hashlib.sha256(data).hexdigest()).write_bytes(data)
        n = sum(1 for _ in d.iterdir())
        size = sum(p.stat().st_size for p in d.iterdir())
        total += size
        print(f"{target}: {n} inputs, {size} bytes")
    print(f"total: {total} bytes")


if __name__ == "__main__":
    main()
