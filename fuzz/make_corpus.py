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

HERE = pathlib.Path(__file__).resolve().parent
CORPUS = HERE / "corpus"

# RFC 6455 §5.7's masking key, and the §1.3 handshake.
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGJRzK+xOo="

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


def server_inputs():
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
    ]


def client_inputs():
    hello = frame(TEXT, b"Hello")
    up = receive_exactly(len(http(response())))  # with flag 1: the 101, same length for any key
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
