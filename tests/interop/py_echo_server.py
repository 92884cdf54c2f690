"""A Python `websockets` echo server for the wscat tests: prints
'listening on 127.0.0.1:PORT', then one line per event ('message text 125',
'message binary 0', 'closed 1000') so that the test sees what arrived.

  /usr/bin/python3 py_echo_server.py [--close-after-first] [--bad-frame masked|reserved] [--reject STATUS]
                                    [--subprotocol NAME]
"""

import argparse
import asyncio
import http
import signal

import websockets

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
    return p.parse_args()


async def main(args):
    async def handler(ws):
        if args.subprotocol:
            print(f"open {ws.subprotocol} {ws.request_headers.get('X-Test')}", flush=True)
        try:
            async for msg in ws:
                kind = "text" if isinstance(msg, str) else "binary"
                size = len(msg.encode()) if isinstance(msg, str) else len(msg)
                print(f"message {kind} {size}", flush=True)
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
                                subprotocols=[args.subprotocol] if args.subprotocol else None) as server:
        print(f"listening on 127.0.0.1:{server.sockets[0].getsockname()[1]}", flush=True)
        await stop


if __name__ == "__main__":
    asyncio.run(main(parse()))
