// The record layer's opening side on its own (no sockets): ciphertext arriving in pieces of any
// size, through libsodium's raw memory (the fast path browsers use) and through the wrapper, must
// give the same plaintexts, refuse a forged record, and stop cleanly once freed.
import { test, before } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';

import sodiumLib from 'libsodium-wrappers-sumo';
import { RelayStream, recordOpener } from '../src/session.js';

let sodium;
before(async () => {
  await sodiumLib.ready;
  sodium = sodiumLib;
});

// A RelayStream over in-memory pieces, as a streamed HTTP body would hand them over.
function streamOf(pieces) {
  const stream = new RelayStream({ closed: null, closedWithin: async () => {} });
  let i = 0;
  stream.useBody({ read: async () => (i < pieces.length ? { done: false, value: pieces[i++] } : { done: true }) });
  return stream;
}

// Records of these plaintext sizes, sealed by a fresh stream, cut into pieces of `piece` bytes;
// tags[i] (default TAG_MESSAGE) is record i's tag.
function sealed(sizes, piece, tags = []) {
  const key = sodium.crypto_secretstream_xchacha20poly1305_keygen();
  const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(key);
  const plains = sizes.map((n) => new Uint8Array(crypto.randomBytes(n))); // (libsodium.js's own is slow in Node)
  const ciphers = plains.map((p, i) => sodium.crypto_secretstream_xchacha20poly1305_push(push.state, p, null, tags[i] || 0));
  const all = new Uint8Array(ciphers.reduce((a, c) => a + c.length, 0));
  let at = 0;
  for (const c of ciphers) {
    all.set(c, at);
    at += c.length;
  }
  const pieces = [];
  for (let i = 0; i < all.length; i += piece) pieces.push(all.slice(i, i + piece));
  return { key, header: push.header, plains, ciphers, pieces };
}

for (const raw of [true, false]) {
  test(`records in pieces open to what was sealed (${raw ? "libsodium's memory" : 'wrapper'})`, async () => {
    const sizes = [0, 1, 4096, (1 << 20) - 1, 1 << 20, 17, 70000];
    const REKEY = sodium.crypto_secretstream_xchacha20poly1305_TAG_REKEY;
    const tags = sizes.map((_, i) => (i === 2 ? REKEY : 0)); // the key changes after the third
    for (const piece of [1000, 65536, 3 << 20]) {
      const { key, header, plains, ciphers, pieces } = sealed(sizes, piece, tags);
      const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
      const open = recordOpener(sodium, pull, streamOf(pieces), { raw });
      for (let i = 0; i < plains.length; i++) {
        assert.deepEqual(await open(ciphers[i].length), plains[i], `record ${i}, pieces of ${piece}`);
      }
      if (open.free) open.free();
    }
  });

  test(`a forged record does not open (${raw ? "libsodium's memory" : 'wrapper'})`, async () => {
    const { key, header, ciphers, pieces } = sealed([5000, 5000], 777);
    const flipped = pieces.map((p) => p.slice());
    flipped[Math.floor((ciphers[0].length + 100) / 777)][(ciphers[0].length + 100) % 777] ^= 1; // in the second
    const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
    const open = recordOpener(sodium, pull, streamOf(flipped), { raw });
    assert.ok(await open(ciphers[0].length));
    assert.equal(await open(ciphers[1].length), null);
  });

  test(`records out of order or replayed do not open (${raw ? "libsodium's memory" : 'wrapper'})`, async () => {
    const { key, header, ciphers } = sealed([100, 200], 1 << 20);
    const pull = () => sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
    const swapped = recordOpener(sodium, pull(), streamOf([ciphers[1], ciphers[0]]), { raw });
    assert.equal(await swapped(ciphers[1].length), null);
    const replayed = recordOpener(sodium, pull(), streamOf([ciphers[0], ciphers[0]]), { raw });
    assert.ok(await replayed(ciphers[0].length));
    assert.equal(await replayed(ciphers[0].length), null);
  });
}

test('a read still waiting when the opener is freed ends with an error, not a write to freed memory', async () => {
  const { key, header, ciphers, pieces } = sealed([3000], 1000);
  let release;
  const gate = new Promise((r) => (release = r));
  const stream = new RelayStream({ closed: null, closedWithin: async () => {} });
  let i = 0;
  stream.useBody({
    read: async () => {
      if (i === 1) await gate; // the second piece is late
      return i < pieces.length ? { done: false, value: pieces[i++] } : { done: true };
    },
  });
  const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(header, key);
  const open = recordOpener(sodium, pull, stream);
  const pending = open(ciphers[0].length);
  await new Promise((r) => setTimeout(r, 10));
  open.free();
  release();
  await assert.rejects(pending, /closed/);
});
