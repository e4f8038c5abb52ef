// Peers of another wire version (docs/protocol.md, "Wire version"): the page and the CLI each meet
// a stand-in for a newer ferry through the real server, and both stop with the error "version"
// instead of failing to pair for no reason a person can see.
import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import WebSocket from 'ws';

import { exited, startFixture, startSend } from './helpers.js';
import { receive } from '../src/receive.js';
import { fromHex, otherVersion } from '../src/protocol.js';
import { Rendezvous, websocketBase } from '../src/session.js';

let sodium;
let serverUrl;
let stop;

before(async () => ({ sodium, url: serverUrl, stop } = await startFixture('ferry-version-')));
after(() => stop());

// A stand-in for a ferry of wire version 2: its PAKE messages start with 2.
const NEWER = 2;

test('the CLI sender answers a newer receiver with its version and stops with "version"', async () => {
  const { proc, code } = await startSend(serverUrl, ['--text', 'hi']);
  let stderr = '';
  proc.stderr.on('data', (d) => (stderr += d));
  const rv = await Rendezvous.open(WebSocket, websocketBase(serverUrl));
  await rv.welcome();
  rv.send({ type: 'claim', nameplate: code.code.split('-')[0] });
  assert.equal((await rv.next()).type, 'paired');
  const share = fromHex('e2f2ae0a6abc4e71a884a961c500515f58e30b6aa582dd8db6a65945e08d2d76');
  rv.sendBody(new Uint8Array([NEWER, 1, ...share]));
  const notice = await rv.nextBody();
  assert.deepEqual([...notice], [0, 1], 'the version notice: 0, then the version it speaks');
  rv.close();
  assert.equal(await exited(proc), 11);
  assert.match(stderr, /another version of ferry \(wire protocol 2; this one speaks 1\)/);
  assert.match(stderr, /update ferry/);
});

test('the page, meeting a newer sender, says so and which versions met', async () => {
  // The newer sender allocates a code and answers the page's PAKE message with its notice.
  const rv = await Rendezvous.open(WebSocket, websocketBase(serverUrl));
  await rv.welcome();
  rv.send({ type: 'allocate' });
  const { nameplate } = await rv.next();
  const newer = (async () => {
    assert.equal((await rv.next()).type, 'paired');
    await rv.nextBody(); // the page's share, version 1
    rv.sendBody(new Uint8Array([0, NEWER]));
  })();
  await assert.rejects(
    receive({
      sodium, WebSocket, server: serverUrl, code: `${nameplate}-acorn-zebra`,
      decide: async () => true, sink: null,
    }),
    (e) => e.code === 'version' && /wire protocol 2; this page speaks 1/.test(e.message),
  );
  await newer;
  rv.close();
});

test('a message of our own version is no mismatch, any other is', () => {
  assert.equal(otherVersion(new Uint8Array([1, 1, 2, 3])), null);
  assert.equal(otherVersion(new Uint8Array([3, 0])).code, 'version');
  assert.match(otherVersion(new Uint8Array([0, 7])).message, /wire protocol 7/);
});
