// A Node `ws` echo server for the wscat tests, the twin of py_echo_server.py:
// prints 'listening on 127.0.0.1:PORT', then one line per event
// ('message text 125', 'message binary 0', 'closed 1000').
//
//   node ws_echo_server.js [--close-after-first] [--bad-frame masked|reserved] [--reject STATUS]
//                          [--deflate SPEC]
//
// --deflate SPEC: 'off', or permessage-deflate with ws's perMessageDeflate
// options as a comma-separated list ('default' for none), e.g.
// 'serverNoContextTakeover,serverMaxWindowBits=10,threshold=0'. Without
// threshold it is 0 here (every message compressed; ws's own default is
// 1024). ws's server itself has permessage-deflate off by default. With
// --deflate the server first logs 'open-offer OFFER' and 'open-extensions
// ANSWER' (the Sec-WebSocket-Extensions values received and answered, or
// 'none') and ends each message line with 'deflated' or 'plain' (whether it
// came compressed).
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
const deflateSpec = flagValue('--deflate');
if (badFrame !== undefined && !BAD_FRAMES[badFrame]) {
  console.error(`--bad-frame takes ${Object.keys(BAD_FRAMES).join(' or ')}`);
  process.exit(2);
}

// --deflate SPEC → the perMessageDeflate option (false for 'off').
function perMessageDeflate(spec) {
  if (spec === undefined || spec === 'off') return false;
  const options = { threshold: 0 };
  for (const item of spec.split(',')) {
    if (item === 'default') continue;
    const [key, value] = item.split('=');
    options[key] = value === undefined ? true : Number(value);
  }
  return options;
}

const wss = new WebSocketServer({
  host: '127.0.0.1',
  port: 0,
  maxPayload: 64 * 1024 * 1024,
  perMessageDeflate: perMessageDeflate(deflateSpec),
  verifyClient: reject ? (info, done) => done(false, Number(reject), 'Refused by the test server') : undefined,
});

// The answer as sent, kept for the 'connection' event of the same request.
const answers = new WeakMap();
wss.on('headers', (headers, req) => {
  const field = headers.find((h) => /^sec-websocket-extensions:/i.test(h));
  answers.set(req, field ? field.slice(field.indexOf(':') + 1).trim() : 'none');
});

// Whether the message being received came compressed: ws inflates it (in
// the extension's decompress) before emitting it, one message at a time.
function logCompression(ws) {
  const state = { compressed: false };
  const extension = ws._extensions['permessage-deflate'];
  if (extension) {
    const decompress = extension.decompress.bind(extension);
    extension.decompress = (data, fin, callback) => {
      state.compressed = true;
      decompress(data, fin, callback);
    };
  }
  return state;
}

wss.on('listening', () => console.log(`listening on 127.0.0.1:${wss.address().port}`));
wss.on('connection', (ws, req) => {
  const compression = deflateSpec === undefined ? null : logCompression(ws);
  if (compression) {
    console.log(`open-offer ${req.headers['sec-websocket-extensions'] ?? 'none'}`);
    console.log(`open-extensions ${answers.get(req)}`);
  }
  ws.on('message', (data, isBinary) => {
    let how = '';
    if (compression) {
      how = compression.compressed ? ' deflated' : ' plain';
      compression.compressed = false;
    }
    console.log(`message ${isBinary ? 'binary' : 'text'} ${data.length}${how}`);
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
