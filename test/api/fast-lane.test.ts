/**
 * The fast lane (src/api/fast-lane.ts) in front of a plain node:http server: what it
 * answers, and that everything it does not answer reaches node:http byte for byte —
 * checked by sending the same raw bytes to a server with the lane and to one without
 * and comparing the answers.
 */
import assert from 'node:assert/strict';
import { createServer, type Server } from 'node:http';
import { connect, type AddressInfo, type Socket } from 'node:net';
import { after, before, describe, test } from 'node:test';
import { setTimeout as pause } from 'node:timers/promises';
import { FastLane } from '../../src/api/fast-lane.js';
import { waitForEvent, waitUntil } from '../helpers/wait.js';

const PATH = '/v1/fast';
const TOKEN = 'Bearer secret-token';

interface Answer {
  status: number;
  headers: Record<string, string>;
  body: string;
}

/** The full server: echoes what it received, so a handed-off request can be checked. */
function fullServer(): Server {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = `full ${req.method} ${req.url} ${Buffer.concat(chunks).toString()}`;
      res.writeHead(200, { 'content-type': 'text/plain', 'content-length': Buffer.byteLength(body), 'x-full': '1' });
      res.end(body);
    });
  });
  server.keepAliveTimeout = 5000;
  return server;
}

async function listen(server: Server): Promise<number> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return (server.address() as AddressInfo).port;
}

/** Parses as many complete HTTP/1.1 answers as `data` holds (Content-Length framing). */
function parseAnswers(data: Buffer): Answer[] {
  const answers: Answer[] = [];
  let at = 0;
  for (;;) {
    const headEnd = data.indexOf('\r\n\r\n', at);
    if (headEnd < 0) return answers;
    const lines = data.toString('latin1', at, headEnd).split('\r\n');
    const headers: Record<string, string> = {};
    for (const line of lines.slice(1)) {
      const colon = line.indexOf(':');
      headers[line.slice(0, colon).toLowerCase()] = line.slice(colon + 1).trim();
    }
    const length = Number(headers['content-length'] ?? 0);
    if (data.length < headEnd + 4 + length) return answers;
    answers.push({ status: Number(lines[0]!.split(' ')[1]), headers, body: data.toString('utf8', headEnd + 4, headEnd + 4 + length) });
    at = headEnd + 4 + length;
  }
}

/**
 * Sends `parts` (one write each, in turn) on a new connection and collects answers
 * until `count` have arrived or the server closes the connection.
 */
async function exchange(port: number, parts: (string | Buffer)[], count: number): Promise<{ answers: Answer[]; closed: boolean; raw: string }> {
  const socket = connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let data = Buffer.alloc(0);
  let closed = false;
  const done = new Promise<void>((resolve) => {
    const check = (): void => {
      if (closed || parseAnswers(data).length >= count) resolve();
    };
    socket.on('data', (c: Buffer) => {
      data = Buffer.concat([data, c]);
      check();
    });
    socket.on('close', () => {
      closed = true;
      check();
    });
    socket.on('error', () => undefined);
  });
  for (const part of parts) {
    socket.write(part);
    await new Promise((r) => setImmediate(r));
  }
  const timer = setTimeout(() => socket.destroy(), 5000);
  await done;
  // Whether the server keeps the connection after its answers is part of the result: a
  // probe request is either answered (the connection is open) or meets the close.
  const length = data.length;
  if (!closed) {
    const before = parseAnswers(data).length;
    await new Promise<void>((resolve) => {
      const check = (): void => {
        if (closed || parseAnswers(data).length > before) resolve();
      };
      socket.on('data', check);
      socket.on('close', check);
      socket.write(PROBE);
    });
  }
  clearTimeout(timer);
  socket.destroy();
  const answers = data.subarray(0, length);
  return { answers: parseAnswers(answers), closed, raw: answers.toString('latin1') };
}

function request(body: string, headers: Record<string, string> = {}, line = `POST ${PATH} HTTP/1.1`): string {
  const all: Record<string, string> = { Host: 'gw', Authorization: TOKEN, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)), ...headers };
  return `${line}\r\n${Object.entries(all).filter(([, v]) => v !== '').map(([k, v]) => `${k}: ${v}`).join('\r\n')}\r\n\r\n${body}`;
}

/** A complete request off the lane's route, to learn whether a connection is still open. */
const PROBE = 'GET /probe HTTP/1.1\r\nHost: gw\r\n\r\n';

const ok = (n: number | string): string => JSON.stringify({ ok: String(n) });
/** Strips the Date header (it differs between two servers answering a second apart). */
const dateless = (raw: string): string => raw.replace(/\r\nDate: [^\r]*/g, '');

describe('fast lane in front of node:http', () => {
  let laneServer: Server;
  let plainServer: Server;
  let lane: FastLane;
  let lanePort: number;
  let plainPort: number;
  const answered: string[] = [];

  before(async () => {
    laneServer = fullServer();
    lane = new FastLane(laneServer, {
      route: {
        path: PATH,
        answer: (body) => {
          const ok = (body as { ok?: unknown } | null)?.ok;
          return typeof ok === 'string' && ok !== 'decline' ? JSON.stringify({ answer: ok }) : undefined;
        },
      },
      authorized: (header) => header === TOKEN,
      bodyLimitBytes: 64,
      onAnswer: () => answered.push(`${PATH} 200`),
    });
    plainServer = fullServer();
    lanePort = await listen(laneServer);
    plainPort = await listen(plainServer);
  });
  after(async () => {
    lane.close();
    laneServer.closeAllConnections();
    plainServer.closeAllConnections();
    await Promise.all([new Promise((r) => laneServer.close(r)), new Promise((r) => plainServer.close(r))]);
  });

  test('answers its route with 200 and the headers node:http would send, and reports each answer', async () => {
    const before = answered.length;
    const { answers, closed } = await exchange(lanePort, [request(ok(1))], 1);
    assert.equal(closed, false, 'keep-alive');
    assert.equal(answers.length, 1);
    const a = answers[0]!;
    assert.equal(a.status, 200);
    assert.equal(a.body, '{"answer":"1"}');
    assert.equal(a.headers['x-full'], undefined, 'answered by the lane');
    assert.equal(a.headers['content-type'], 'application/json; charset=utf-8');
    assert.equal(a.headers['content-length'], String(a.body.length));
    assert.equal(a.headers['connection'], 'keep-alive');
    assert.equal(a.headers['keep-alive'], 'timeout=5');
    assert.ok(Math.abs(Date.parse(a.headers['date']!) - Date.now()) < 5000, 'a current Date header');
    assert.deepEqual(answered.slice(before), [`${PATH} 200`]);
  });

  test('pipelined requests are answered in order; from the first it does not answer on, node:http answers the rest', async () => {
    const parts = [request(ok(1)) + request(ok(2)) + `GET /other HTTP/1.1\r\nHost: gw\r\n\r\n` + request(ok(3))];
    const { answers } = await exchange(lanePort, parts, 4);
    assert.deepEqual(answers.map((a) => [a.status, a.headers['x-full'] ?? 'lane', a.body]), [
      [200, 'lane', '{"answer":"1"}'],
      [200, 'lane', '{"answer":"2"}'],
      [200, '1', 'full GET /other '],
      [200, '1', `full POST ${PATH} ${ok(3)}`],
    ]);
  });

  test('requests split at every byte are put together', async () => {
    const bytes = Buffer.from(request(ok('split')) + request(ok('again')));
    const parts = Array.from(bytes, (b) => Buffer.from([b]));
    const { answers } = await exchange(lanePort, parts, 2);
    assert.deepEqual(answers.map((a) => a.body), ['{"answer":"split"}', '{"answer":"again"}']);
    assert.ok(answers.every((a) => a.headers['x-full'] === undefined));
  });

  test('a body of a different length on the same connection is read with its own Content-Length', async () => {
    const { answers } = await exchange(lanePort, [request(ok(1)), request(ok('a much longer value')), request(ok(22))], 3);
    assert.deepEqual(answers.map((a) => a.body), ['{"answer":"1"}', '{"answer":"a much longer value"}', '{"answer":"22"}']);
  });

  // Each of these must reach node:http unchanged: the answer (and whether the
  // connection is closed) is the same as from a server without the lane.
  const latin1 = (s: string): Buffer => Buffer.from(s, 'latin1');
  const len = String(ok(1).length);
  const notForTheLane: [string, string | Buffer][] = [
    ['another route', request(ok(1), {}, 'POST /v1/other HTTP/1.1')],
    ['another method', request(ok(1), {}, `PUT ${PATH} HTTP/1.1`)],
    ['HTTP/1.0', request(ok(1), {}, `POST ${PATH} HTTP/1.0`)],
    ['a query string', request(ok(1), {}, `POST ${PATH}?x=1 HTTP/1.1`)],
    ['a wrong token', request(ok(1), { Authorization: 'Bearer wrong' })],
    ['no token', request(ok(1), { Authorization: '' })],
    ['two Authorization headers', request(ok(1), { 'authorization ': '' }).replace('Host: gw', `Host: gw\r\nAuthorization: ${TOKEN}`)],
    ['no Host', request(ok(1), { Host: '' })],
    ['two Host headers', request(ok(1)).replace('Host: gw', 'Host: gw\r\nHost: other')],
    ['text/plain', request(ok(1), { 'Content-Type': 'text/plain' })],
    ['no content type', request(ok(1), { 'Content-Type': '' })],
    ['a body over the limit', request(JSON.stringify({ ok: 'x'.repeat(80) }))],
    ['chunked', `POST ${PATH} HTTP/1.1\r\nHost: gw\r\nAuthorization: ${TOKEN}\r\nContent-Type: application/json\r\nTransfer-Encoding: chunked\r\n\r\n${ok(1).length.toString(16)}\r\n${ok(1)}\r\n0\r\n\r\n`],
    ['Expect: 100-continue', request(ok(1), { Expect: '100-continue' })],
    ['two Content-Length headers', request(ok(1)).replace('Host: gw', 'Host: gw\r\nContent-Length: 3')],
    ['a signed Content-Length', request(ok(1), { 'Content-Length': `+${ok(1).length}` })],
    ['a space before the colon', request(ok(1)).replace('Host: gw', 'Host : gw')],
    ['a folded header', request(ok(1)).replace('Host: gw', 'Host: gw\r\n  folded')],
    ['a control character in a value', request(ok(1), { 'X-Note': 'a\x01b' })],
    ['a bare LF inside the head', request(ok(1)).replace('Host: gw\r\n', 'Host: gw\nX-A: b\r\n')],
    ['Connection: upgrade', request(ok(1), { Connection: 'Upgrade', Upgrade: 'websocket' })],
    ['invalid JSON', request('{"ok":')],
    ['JSON the route declines', request(ok('decline'))],
    ['a JSON array', request('[1]')],
    ['an oversized head', request(ok(1), { 'X-Big': 'y'.repeat(9000) })],
    // Only spaces and tabs are optional whitespace around a value.
    ['a no-break space before Content-Length', latin1(request(ok(1), { 'Content-Length': `\xa0${len}` }))],
    ['a vertical tab after Content-Length', latin1(request(ok(1), { 'Content-Length': `${len}\x0b` }))],
    ['a form feed after Content-Length', latin1(request(ok(1), { 'Content-Length': `${len}\x0c` }))],
    ['a bare CR after Content-Length', latin1(request(ok(1), { 'Content-Length': `${len}\r` }))],
    ['a bare LF after Content-Length', latin1(request(ok(1), { 'Content-Length': `${len}\n` }))],
    ['a no-break space before the token', latin1(request(ok(1), { Authorization: `\xa0${TOKEN}` }))],
    ['a vertical tab after the token', latin1(request(ok(1), { Authorization: `${TOKEN}\x0b` }))],
    ['a bare LF after Host', latin1(request(ok(1), { Host: 'gw\n' }))],
    ['a vertical tab in another header', latin1(request(ok(1), { 'X-A': '\x0b' }))],
    ['a vertical tab after the content type', latin1(request(ok(1), { 'Content-Type': 'application/json\x0b' }))],
    ['Proxy-Connection: close', request(ok(1), { 'Proxy-Connection': 'close' })],
    ['bytes after a request that asked to close', request(ok(1), { Connection: 'close' }) + request(ok(2))],
    ['an incomplete head that cannot be the lane\'s', latin1('GET /healthz HTTP/1.1\r\nHost: x\r\nX: a\x00b\r\n')],
    // node:http refuses these as soon as it reads the bad line ending: the lane must not wait for a CRLF CRLF that never comes.
    ['a head ending in CR LF LF', request(ok(1)).replace('\r\n\r\n', '\r\n\n')],
    ['a head ending in LF LF', request(ok(1)).replace(/\r\n/g, '\n')],
    ['a head ending in LF CR LF', request(ok(1)).replace('\r\n\r\n', '\n\r\n')],
    ['a bare LF after the request line, head incomplete', `POST ${PATH} HTTP/1.1\nHost: gw\r\n`],
    ['a bare CR inside an incomplete head', `POST ${PATH} HTTP/1.1\r\nHost: gw\rX-A: b\r\n`],
    ['an incomplete head with a line without a colon', `POST ${PATH} HTTP/1.1\r\nHost gw\r\n`],
    ['an incomplete head with a control character in a value', latin1(`POST ${PATH} HTTP/1.1\r\nHost: g\x01w\r\n`)],
  ];
  for (const [name, raw] of notForTheLane) {
    test(`not answered by the lane, answered as node:http answers it: ${name}`, async () => {
      const before = answered.length;
      const viaLane = await exchange(lanePort, [raw], 1);
      const plain = await exchange(plainPort, [raw], 1);
      assert.equal(answered.length, before, 'the lane answered nothing');
      assert.equal(dateless(viaLane.raw), dateless(plain.raw));
      assert.equal(viaLane.closed, plain.closed);
    });
  }

  test('after a request it did not answer, later requests on the connection go to node:http', async () => {
    const { answers } = await exchange(lanePort, [request(ok(1), { Authorization: 'Bearer wrong' }), request(ok(2))], 2);
    assert.deepEqual(answers.map((a) => a.headers['x-full']), ['1', '1']);
  });

  test('Connection: close is answered with Connection: close, and the connection is closed even if the client keeps its side open', async () => {
    const serverSide = new Promise<Socket>((resolve) => laneServer.once('connection', resolve));
    const socket = connect({ host: '127.0.0.1', port: lanePort, allowHalfOpen: true });
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    const ended = new Promise((r) => socket.once('end', r));
    socket.write(request(ok(1), { Connection: 'close' }));
    await ended;
    const [answer] = parseAnswers(Buffer.from(data, 'latin1'));
    assert.equal(answer?.body, '{"answer":"1"}');
    assert.equal(answer?.headers['x-full'], undefined, 'answered by the lane');
    assert.equal(answer?.headers['connection'], 'close');
    assert.equal(answer?.headers['keep-alive'], undefined);
    // The server side is gone (not half-open, waiting for the client's FIN).
    const server = await serverSide;
    if (!server.destroyed) await waitForEvent(server, 'close', () => true, 2000);
    assert.equal(await new Promise<number>((r) => laneServer.getConnections((_e, n) => r(n))), 0);
    socket.destroy();
  });

  test('a client that sends without reading is not read further until it reads (answers do not pile up)', async () => {
    let server: Socket | undefined;
    const seen = (s: Socket): void => {
      server = s;
    };
    laneServer.once('connection', seen);
    const socket = connect({ host: '127.0.0.1', port: lanePort });
    await new Promise((r) => socket.once('connect', r));
    socket.pause();
    const many = Buffer.from(request(ok(1)).repeat(2000));
    for (let i = 0; i < 40; i++) socket.write(many); // 80,000 requests, ~14 MB
    // The lane pausing its reads is the event; data the client cannot hand over shows
    // that the server is not reading it.
    await waitUntil(() => server?.isPaused() === true, 15_000, 'the lane pausing');
    assert.ok(server !== undefined);
    assert.ok(socket.writableLength > 0, 'the client has requests the server did not read');
    assert.ok(server.writableLength < 1024 * 1024, `answers waiting in the server: ${server.writableLength} bytes`);
    assert.equal(server.isPaused(), true, 'the lane stopped reading');
    // Once the client reads, everything is answered.
    let received = 0;
    const all = new Promise<void>((resolve) => {
      socket.on('data', (c: Buffer) => {
        received += c.length;
        if (received >= 80_000 * 5) resolve();
      });
    });
    socket.resume();
    await all;
    socket.destroy();
  });

  test('a client that half-closes gets its answers and the connection ends', async () => {
    const socket = connect({ host: '127.0.0.1', port: lanePort });
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    socket.end(request(ok('last')));
    await new Promise((r) => socket.once('close', r));
    assert.match(data, /\{"answer":"last"\}$/);
  });
});

describe('fast lane connection lifetime', () => {
  let server: Server;
  let lane: FastLane;
  let port: number;

  before(async () => {
    server = fullServer();
    server.keepAliveTimeout = 300;
    server.headersTimeout = 600;
    server.requestTimeout = 600;
    lane = new FastLane(server, {
      route: { path: PATH, answer: () => '{}' },
      authorized: (h) => h === TOKEN,
      bodyLimitBytes: 64,
      onAnswer: () => undefined,
    });
    port = await listen(server);
  });
  after(async () => {
    lane.close();
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  test('an idle connection is closed after the server\'s keepAliveTimeout', async () => {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    socket.resume();
    socket.write(request(ok(1)));
    const started = Date.now();
    await new Promise((r) => socket.once('close', r));
    const waited = Date.now() - started;
    // The time is the behaviour under test (keepAliveTimeout 300 ms); the upper bound is generous for a loaded machine.
    assert.ok(waited >= 300 && waited < 3000, `closed after ${waited} ms`);
    assert.equal(lane.size, 0);
  });

  test('a request not complete within requestTimeout gets node:http\'s 408 and the connection is closed', async () => {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    const started = Date.now();
    socket.write(request(ok(1)).slice(0, 40));
    await new Promise((r) => socket.once('close', r));
    const waited = Date.now() - started;
    assert.equal(data, 'HTTP/1.1 408 Request Timeout\r\nConnection: close\r\n\r\n');
    // The time is the behaviour under test (requestTimeout 600 ms); the upper bound is generous for a loaded machine.
    assert.ok(waited >= 600 && waited < 3000, `closed after ${waited} ms`);
  });

  test('a connection that keeps sending is not closed as idle', async () => {
    const socket = connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    let closed = false;
    socket.once('close', () => (closed = true));
    let data = '';
    socket.on('data', (c: Buffer) => (data += c.toString('latin1')));
    // The scenario: a request, its answer, a pause of 100 ms (a third of keepAliveTimeout),
    // and again, for four times keepAliveTimeout. Each answer is awaited; the pause is
    // the activity pattern under test, not synchronisation.
    const started = Date.now();
    let sent = 0;
    while (Date.now() - started < 1200) {
      socket.write(request(ok(sent++)));
      await waitUntil(() => closed || parseAnswers(Buffer.from(data, 'latin1')).length === sent, 5000, 'an answer');
      assert.equal(closed, false, `closed after ${Date.now() - started} ms of activity`);
      await pause(100);
    }
    socket.write(request(ok(sent++)));
    await waitUntil(() => closed || parseAnswers(Buffer.from(data, 'latin1')).length === sent, 5000, 'the last answer');
    assert.equal(closed, false, 'still open after 1.2 s of activity');
    socket.destroy();
  });

  test('close() ends the connections it holds; later connections go to node:http', async () => {
    const socket: Socket = connect({ host: '127.0.0.1', port });
    await new Promise((r) => socket.once('connect', r));
    socket.write(request(ok(1)));
    await new Promise((r) => socket.once('data', r));
    assert.equal(lane.size, 1);
    lane.close();
    await new Promise((r) => socket.once('close', r));
    assert.equal(lane.size, 0);
    const { answers } = await exchange(port, [request(ok(2))], 1);
    assert.equal(answers[0]!.headers['x-full'], '1');
  });
});
