// A Node `ws` echo server for the wscat tests, the twin of py_echo_server.py:
// prints 'listening on 127.0.0.1:PORT', then one line per event
// ('message text 125', 'message binary 0', 'closed 1000').
//
//   node ws_echo_server.js [--close-after-first] [--bad-frame masked|reserved] [--reject STATUS]
'use strict';

const { WebSocketServer } = require('ws');

// Frames a server must never send: a masked one (RFC 6455 §5.1) and one with
// the reserved opcode 0x3 (§5.2). Both carry the text "hi".
const BAD_FRAMES = {
  masked: Buffer.from([0x81, 0x82, 1, 2, 3, 4, 0x68 ^ 1, 0x69 ^ 2]),
  reserved: Buffer.from([0x83, 0x02, 0x68, 0x69]),
};

const args = process.argv.slice(2);
const closeAfterFirst = args.includes('--close-after-first');
const flagValue = (name) => (args.includes(name) ? args[args.indexOf(name) + 1] : undefined);
const badFrame = flagValue('--bad-frame');
const reject = flagValue('--reject');
if (badFrame !== undefined && !BAD_FRAMES[badFrame]) {
  console.error(`--bad-frame takes ${Object.keys(BAD_FRAMES).join(' or ')}`);
  process.exit(2);
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 64 * 1024 * 1024,
  verifyClient: reject ? (info, done) => done(false, Number(reject), 'Refused by the test server') : undefined,
});

wss.on('listening', () => console.log(`listening on 127.0.0.1:${wss.address().port}`));
wss.on('connection', (ws) => {
  ws.on('message', (data, isBinary) => {
    console.log(`message ${isBinary ? 'binary' : 'text'} ${data.length}`);
    if (badFrame) {
      // Straight to the socket: ws itself would never send it.
      ws._socket.write(BAD_FRAMES[badFrame]);
      return;
    }
    ws.send(data, { binary: isBinary });
    if (closeAfterFirst) ws.close(1001, 'server going away');
  });
  ws.on('close', (code) => console.log(`closed ${code}`));
});

process.on('SIGTERM', () => {
  for (const ws of wss.clients) ws.terminate();
  wss.close(() => process.exit(0));
});
