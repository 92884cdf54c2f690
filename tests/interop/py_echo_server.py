"""A Python `websockets` echo server for the wscat tests: prints
'listening on 127.0.0.1:PORT', then one line per event ('message text 125',
'message binary 0', 'closed 1000') so that the test sees what arrived.

  /usr/bin/python3 py_echo_server.py [--close-after-first] [--bad-frame masked|reserved] [--reject STATUS]
                                    [--subprotocol NAME] [--deflate SPEC]

With --deflate it first logs 'open-offer OFFER' and 'open-extensions ANSWER'
(the Sec-WebSocket-Extensions values received and answered, or 'none') and
ends each message line with 'deflated' or 'plain' (whether its first frame
had RSV1).
"""

import argparse
import asyncio
import collections
import http
import signal

import websockets
from websockets.extensions.permessage_deflate import ServerPerMessageDeflateFactory
from websockets.frames import Opcode

# Frames a server must never send: a masked one (§5.1) and one with the
# reserved opcode 0x3 (§5.2). Both carry the text "hi".
BAD_FRAMES = {
    "masked": bytes([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]),
    "reserved": bytes([0x83, 0x02, 0x68, 0x69]),
}


def parse():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--close-after-first", action="store_true",
                   help="after echoing the first message, close with 1001 'server going away'")
    p.add_argument("--bad-frame", choices=sorted(BAD_FRAMES),
                   help="answer the first message with this invalid frame instead of its echo")
    p.add_argument("--reject", type=int, metavar="STATUS", help="refuse every handshake with this HTTP status")
    p.add_argument("--subprotocol", metavar="NAME",
                   help="agree to this subprotocol if offered, and log 'open SUBPROTOCOL X-TEST-HEADER'")
    p.add_argument("--deflate", metavar="SPEC", type=deflate_spec,
                   help="'off', or permessage-deflate with ServerPerMessageDeflateFactory's parameters as a "
                        "comma-separated list ('default' for none), e.g. "
                        "server_no_context_takeover,server_max_window_bits=10,require_client_max_window_bits")
    return p.parse_args()


def deflate_spec(spec):
    """--deflate SPEC → websockets.serve's `extensions` ([] for 'off'). The
    factory compresses every message (websockets has no threshold)."""
    if spec == "off":
        return []
    kwargs = {}
    for item in spec.split(","):
        if item == "default":
            continue
        key, eq, value = item.partition("=")
        kwargs[key] = int(value) if eq else True
    return [ServerPerMessageDeflateFactory(**kwargs)]


def log_compression(ws):
    """A deque with True/False for each data message as its first frame is
    read (RSV1 set or not): websockets does not tell its handler."""
    seen = collections.deque()
    for ext in ws.extensions:
        decode = ext.decode

        def logging_decode(frame, *, max_size=None, decode=decode):
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
                seen.append(frame.rsv1)
            return decode(frame, max_size=max_size)
        ext.decode = logging_decode
    return seen


async def main(args):
    async def handler(ws):
        if args.subprotocol:
            print(f"open {ws.subprotocol} {ws.request_headers.get('X-Test')}", flush=True)
            hosts = ",".join(ws.request_headers.get_all("Host"))
            origins = ",".join(ws.request_headers.get_all("Origin")) or "none"
            print(f"open-host {hosts} origin {origins}", flush=True)
        if args.deflate is not None:
            offer = ", ".join(ws.request_headers.get_all("Sec-WebSocket-Extensions")) or "none"
            print(f"open-offer {offer}", flush=True)
            print(f"open-extensions {ws.response_headers.get('Sec-WebSocket-Extensions', 'none')}", flush=True)
            compressed = log_compression(ws)
        try:
            async for msg in ws:
                kind = "text" if isinstance(msg, str) else "binary"
                size = len(msg.encode()) if isinstance(msg, str) else len(msg)
                how = ""
                if args.deflate is not None:
                    how = " deflated" if compressed and compressed.popleft() else " plain"
                print(f"message {kind} {size}{how}", flush=True)
                if args.bad_frame:
                    # Straight to the transport: websockets itself would never send it.
                    ws.transport.write(BAD_FRAMES[args.bad_frame])
                    continue
                try:
                    await ws.send(msg)
                except websockets.ConnectionClosed:
                    # The client's Close came in after this message and has
                    # been answered: no more echoes, but keep logging what arrived.
                    continue
                if args.close_after_first:
                    await ws.close(1001, "server going away")
        except websockets.ConnectionClosedError:
            pass  # a closing code other than 1000/1001: logged below, like any other
        finally:
            print(f"closed {ws.close_code}", flush=True)

    async def reject(path, headers):
        return http.HTTPStatus(args.reject), [("Content-Type", "text/plain")], b"refused by the test server\n"

    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    loop.add_signal_handler(signal.SIGTERM, stop.set_result, None)
    async with websockets.serve(handler, "127.0.0.1", 0, max_size=None, ping_interval=None,
                                process_request=reject if args.reject else None,
                                subprotocols=[args.subprotocol] if args.subprotocol else None,
                                **({} if args.deflate is None else {"extensions": args.deflate,
                                                                     "compression": None})) as server:
        print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(parse()))
