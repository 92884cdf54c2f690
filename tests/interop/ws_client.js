// The Node `ws` client side of test_node_client.py: runs one case against a
// WebSocket echo server and exits 0 when it passed, 1 (with the reason on
// stderr) when it did not. test_node_client.py starts the server, picks the
// case, and bounds the time.
//
//   node ws_client.js ws://127.0.0.1:PORT/ CASE [PERMESSAGE_DEFLATE_JSON]
//
// Without the JSON (ws's perMessageDeflate option) nothing is offered. With
// it, each connection prints 'extensions ANSWER' (the server's
// Sec-WebSocket-Extensions, or 'none'), which test_node_client.py checks.
'use strict';

const crypto = require('crypto');
const WebSocket = require('ws');

const SIZES = [0, 1, 125, 126, 65535, 65536];
const BIG = 16 * 1024 * 1024;

function fail(why) {
  throw new Error(why);
}

// Valid UTF-8 text of exactly `size` bytes with characters of one to four
// bytes, so that it is split between frames inside characters. A 997-byte
// unit is repeated: it falls differently under each of the 4 mask bytes.
const CHARS = ['a', 'Z', '0', ' ', '~', 'é', '߿', 'ࠀ', '€', '\uffff', '𐀀', '😀', '\u{10ffff}'];
function text(size) {
  let unit = '';
  while (Buffer.byteLength(unit) < 993) unit += CHARS[crypto.randomInt(CHARS.length)];
  unit += 'x'.repeat(997 - Buffer.byteLength(unit));
  const whole = unit.repeat(Math.floor(size / 997));
  return whole + 'y'.repeat(size - Buffer.byteLength(whole));
}

// Connect; `next()` resolves with the next message ({data, isBinary}),
// `closed` with the close event ({code, reason}). Anything pending fails
// when the connection closes.
let deflate = false;

function connect(url) {
  return new Promise((resolve, reject) => {
    // Compression only when asked for (ws offers it by default).
    const ws = new WebSocket(url, { maxPayload: 64 * 1024 * 1024, perMessageDeflate: deflate });
    let answer = 'none';
    ws.once('upgrade', (res) => {
      answer = res.headers['sec-websocket-extensions'] ?? 'none';
    });
    const inbox = [];
    const waiters = [];
    let closeInfo = null;
    ws.on('message', (data, isBinary) => {
      const m = { data, isBinary };
      if (waiters.length) waiters.shift().resolve(m);
      else inbox.push(m);
    });
    ws.closed = new Promise((res) => {
      ws.once('close', (code, reason) => {
        closeInfo = { code, reason: reason.toString() };
        for (const w of waiters.splice(0)) w.reject(new Error(`closed (${code}) while waiting for a message`));
        res(closeInfo);
      });
    });
    ws.next = () => {
      if (inbox.length) return Promise.resolve(inbox.shift());
      if (closeInfo) return Promise.reject(new Error(`closed (${closeInfo.code})`));
      return new Promise((res, rej) => waiters.push({ resolve: res, reject: rej }));
    };
    ws.once('open', () => {
      // ws.extensions names what ws runs; the parameters are checked in Python.
      const runs = answer === 'none' ? '' : 'permessage-deflate';
      if (ws.extensions !== runs) fail(`the server answered ${answer}, ws runs '${ws.extensions}'`);
      if (deflate) console.log(`extensions ${answer}`);
      resolve(ws);
    });
    ws.once('error', reject);
  });
}

// Compressible text of exactly `size` bytes, like a JSON API answer.
const WORDS = ['alpha', 'beta', 'gamma', 'naïve', 'café', 'Zürich', '東京', 'ok', 'done'];
function json(size) {
  const pick = () => WORDS[crypto.randomInt(WORDS.length)];
  const parts = ['['];
  let length = 1;
  for (let i = 0; length < size; i++) {
    const record = `{"id":${i},"name":"${pick()}-${crypto.randomInt(1000)}","score":${Math.random().toFixed(4)},` +
      `"tags":["${pick()}","${pick()}"],"active":${Math.random() < 0.5}},`;
    parts.push(record);
    length += Buffer.byteLength(record);
  }
  // Cut at `size` bytes, dropping a character cut in half, then pad.
  const cut = Buffer.from(parts.join('')).subarray(0, size).toString().replace(/\uFFFD$/, '');
  return cut + ' '.repeat(size - Buffer.byteLength(cut));
}

function checkEcho(sent, got) {
  const wantBinary = typeof sent !== 'string';
  if (got.isBinary !== wantBinary) fail(`sent ${wantBinary ? 'binary' : 'text'}, echoed as the other type`);
  const want = wantBinary ? sent : Buffer.from(sent);
  if (!want.equals(got.data)) fail(`echo of ${want.length} bytes differs (got ${got.data.length} bytes)`);
}

// Close with 1000 and wait until the server has answered and closed TCP.
async function closeCleanly(ws) {
  ws.close(1000);
  const { code } = await ws.closed;
  if (code !== 1000) fail(`server answered our Close with ${code}`);
}

async function echoEach(url, messages) {
  const ws = await connect(url);
  for (const m of messages) {
    ws.send(m);
    checkEcho(m, await ws.next());
  }
  await closeCleanly(ws);
}

function pong(ws) {
  return new Promise((res) => ws.once('pong', res));
}

const DEFLATE_SIZES = [0, 1, 63, 64, 125, 126, 1000, 65535, 65536, 1 << 20];

const cases = {
  'sizes-text': (url) => echoEach(url, SIZES.map(text)),
  'sizes-binary': (url) => echoEach(url, SIZES.map((n) => crypto.randomBytes(n))),
  'size-16MiB-text': (url) => echoEach(url, [text(BIG)]),
  'size-16MiB-binary': (url) => echoEach(url, [crypto.randomBytes(BIG)]),

  // Mixed messages sent before any echo is read: all back, in order.
  'pipelined-in-order': async (url) => {
    const ws = await connect(url);
    const sent = [];
    for (let i = 0; i < 300; i++) sent.push(i % 2 ? text(i * 37) : crypto.randomBytes(i * 53));
    for (const m of sent) ws.send(m);
    for (const m of sent) checkEcho(m, await ws.next());
    await closeCleanly(ws);
  },

  // Text and binary in several frames each, empty ones included, with a
  // ping between fragments that is answered while the message is open.
  fragmented: async (url) => {
    const ws = await connect(url);
    const parts = ['', 'é', text(70000), '', '😀'];
    parts.forEach((p, i) => ws.send(p, { binary: false, fin: i === parts.length - 1 }));
    checkEcho(parts.join(''), await ws.next());

    const bin = [crypto.randomBytes(10), Buffer.alloc(0), crypto.randomBytes(70000)];
    ws.send(bin[0], { binary: true, fin: false });
    const ponged = pong(ws);
    ws.ping(Buffer.from('between'));
    const data = await ponged;
    if (data.toString() !== 'between') fail(`pong carried ${data}`);
    ws.send(bin[1], { binary: true, fin: false });
    ws.send(bin[2], { binary: true, fin: true });
    checkEcho(Buffer.concat(bin), await ws.next());
    await closeCleanly(ws);
  },

  // Pings of 0, 1 and 125 bytes, each answered with the same data.
  ping: async (url) => {
    const ws = await connect(url);
    for (const payload of [Buffer.alloc(0), Buffer.from('p'), crypto.randomBytes(125)]) {
      const ponged = pong(ws);
      ws.ping(payload);
      const data = await ponged;
      if (!data.equals(payload)) fail(`pong of ${data.length} bytes for a ping of ${payload.length}`);
    }
    await closeCleanly(ws);
  },

  // We close first with 1000; the server echoes it and closes TCP (ws's
  // 'close' event comes once the socket is closed).
  'close-client-first': async (url) => {
    const ws = await connect(url);
    const start = Date.now();
    ws.close(1000, 'client done');
    const { code } = await ws.closed;
    if (code !== 1000) fail(`server answered ${code}`);
    if (Date.now() - start > 2000) fail(`closing took ${Date.now() - start} ms`);
  },

  // The server closes first: the test SIGTERMs it once we print 'open'; we
  // print the code and reason we were given.
  'server-close': async (url) => {
    const ws = await connect(url);
    console.log('open');
    const { code, reason } = await ws.closed;
    console.log(`close ${code} ${reason}`);
    if (code !== 1001) fail(`server closed with ${code}, expected 1001`);
  },

  // A client frame without a mask, written straight to the TCP socket:
  // the server must answer Close 1002 (§5.1).
  'protocol-error': async (url) => {
    const ws = await connect(url);
    ws._socket.write(Buffer.from([0x81, 0x02, 0x68, 0x69]));
    const { code, reason } = await ws.closed;
    console.log(`close ${code} ${reason}`);
    if (code !== 1002) fail(`server closed with ${code}, expected 1002`);
  },

  // With permessage-deflate (the JSON argument): every size as mixed-width
  // text, JSON-like text and random bytes on one connection, then the
  // fragmented, pipelined, ping and close cases, each on a connection of its
  // own. deflate-big: 3 MiB of each kind too.
  deflate: (url) => deflateMatrix(url, DEFLATE_SIZES),
  'deflate-big': (url) => deflateMatrix(url, [...DEFLATE_SIZES, 3 << 20]),
};

async function deflateMatrix(url, sizes) {
  const messages = [];
  for (const make of [text, json, (n) => crypto.randomBytes(n)]) messages.push(...sizes.map(make));
  await echoEach(url, messages);
  for (const name of ['fragmented', 'pipelined-in-order', 'ping', 'close-client-first']) await cases[name](url);
}

async function main() {
  const [url, name, deflateJson] = process.argv.slice(2);
  if (!url || !cases[name]) {
    console.error(`usage: node ws_client.js URL CASE [PERMESSAGE_DEFLATE_JSON] (cases: ${Object.keys(cases).join(' ')})`);
    process.exit(2);
  }
  if (deflateJson) deflate = JSON.parse(deflateJson);
  await cases[name](url);
}

main().then(
  () => process.exit(0),
  (e) => {
    console.error(`FAIL: ${e.message}`);
    process.exit(1);
  },
);
