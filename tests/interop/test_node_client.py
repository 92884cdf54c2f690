"""Node's `ws` (npm, installed by ./dev into tests/interop/node_modules) as
the client of echo_server: the matrix of test_websockets_client.py. Each case
is one run of ws_client.js against a fresh server.

Run alone: /usr/bin/python3 tests/interop/test_node_client.py --build build-debug [--only CASE]
"""

import os
import shutil
import signal
import sys

import harness

run = harness.Runner(__doc__)
NODE = shutil.which("node")
CLIENT = os.path.join(harness.HERE, "ws_client.js")


def check_setup():
    if NODE is None:
        sys.exit("node is missing: install nodejs (./dev deps)")
    if not os.path.isdir(os.path.join(harness.HERE, "node_modules", "ws")):
        sys.exit("the npm package ws is missing: ./dev deps installs it into tests/interop/node_modules")


def node_case(name, timeout):
    def body():
        with harness.Processes() as procs:
            server, port = procs.server([run.example("echo_server"), "--port", "0"])
            client = procs.start([NODE, CLIENT, f"ws://127.0.0.1:{port}/", name], name="ws_client.js")
            rc = client.wait(timeout - 5)
            assert rc == 0, f"ws_client.js {name} exited with {rc}: {client.stderr().strip()}"
            harness.stop_cleanly(server)
    run.case(name, timeout=timeout)(body)


for case in ["sizes-text", "sizes-binary", "pipelined-in-order", "fragmented", "ping", "close-client-first",
             "protocol-error"]:
    node_case(case, timeout=30)
node_case("size-16MiB-text", timeout=50)
node_case("size-16MiB-binary", timeout=50)


@run.case("close-server-first")
def close_server_first():
    """SIGTERM the server once the client is open: ws sees Close 1001."""
    with harness.Processes() as procs:
        server, port = procs.server([run.example("echo_server"), "--port", "0"])
        client = procs.start([NODE, CLIENT, f"ws://127.0.0.1:{port}/", "server-close"], name="ws_client.js")
        client.wait_for_output(r"^open$")
        server.proc.send_signal(signal.SIGTERM)
        rc = client.wait(10)
        assert rc == 0, f"ws_client.js exited with {rc}: {client.stderr().strip()}"
        assert server.wait(10) == 0


if __name__ == "__main__":
    run.parse()
    check_setup()
    run.run()
