// The page's parsers of peer and server bytes, property-based: seeded random mutations (bit flips,
// truncations, insertions, splices) of valid offers, pipe records, names, codes and texts. Each
// parser either returns something that keeps its promises or throws a ProtocolError; nothing
// else escapes, and nothing it accepts is unsafe. Deterministic (a fixed seed), so a failure
// reproduces; FERRY_JS_FUZZ_ITERATIONS sets the count (20,000 per parser by default).
import { test } from 'node:test';
import assert from 'node:assert/strict';

import {
  MSG, ProtocolError, decodePipeMessage, displayText, encodeAbort, encodeAccept, encodeChunk, encodeFileEnd,
  encodeHello, encodeOfferParts, parseOffer, parseSecret, safeRelativePath, utf8,
} from '../src/protocol.js';

const ITERATIONS = Number(process.env.FERRY_JS_FUZZ_ITERATIONS || 20000);

// mulberry32: small, seeded, good enough to pick mutations.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function mutate(seeds, next) {
  const pick = (n) => Math.floor(next() * n);
  let b = Array.from(seeds[pick(seeds.length)]);
  for (let e = 1 + pick(6); e > 0; e--) {
    switch (pick(6)) {
      case 0: if (b.length) b[pick(b.length)] ^= 1 << pick(8); break;
      case 1: b = b.slice(0, pick(b.length + 1)); break;
      case 2: b.splice(pick(b.length + 1), 0, pick(256)); break;
      case 3: { const o = seeds[pick(seeds.length)]; b.push(...o.slice(0, pick(o.length + 1))); break; }
      case 4: if (b.length) b[pick(b.length)] = [0x00, 0x1b, 0x22, 0x2f, 0x2e, 0x5c, 0xc2, 0x9b, 0xe2, 0x80, 0xae, 0xff][pick(12)]; break;
      default: b.splice(pick(b.length + 1), 0, ...utf8(['..', '/', '\u202e', '.ferry-part', '\u0000', '"', 'C:', '\\'][pick(8)]));
    }
  }
  return Uint8Array.from(b);
}

// Runs f on ITERATIONS mutations; f returns normally or throws a ProtocolError.
function property(seeds, seed, f) {
  const next = rng(seed);
  for (let i = 0; i < ITERATIONS; i++) {
    const input = mutate(seeds, next);
    try {
      f(input);
    } catch (e) {
      if (!(e instanceof ProtocolError)) {
        throw new Error(`input ${Buffer.from(input).toString('hex')} threw ${e && e.stack}`);
      }
    }
  }
}

const HIDDEN = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/u;

test('parseOffer accepts only offers whose every name is safe, once, never file and folder both', () => {
  const seeds = [
    utf8(JSON.stringify({ kind: 'files', entries: [{ path: 'd', kind: 'dir' }, { path: 'd/f.txt', kind: 'file', size: 9 }] })),
    utf8(JSON.stringify({ kind: 'files', entries: [{ path: 'stdin', kind: 'file', stream: true }] })),
    utf8(JSON.stringify({ kind: 'text', text: 'hello' })),
  ];
  property(seeds, 1, (input) => {
    const o = parseOffer(input);
    if (o.kind === 'text') return assert.equal(typeof o.text, 'string');
    const seen = new Set();
    for (const e of o.entries) {
      assert.ok(safeRelativePath(e.path), e.path);
      assert.ok(!HIDDEN.test(e.path), e.path);
      assert.ok(!e.path.split('/').some((p) => p === '..' || p.toLowerCase().endsWith('.ferry-part')));
      assert.ok(!seen.has(e.path));
      seen.add(e.path);
      assert.ok(Number.isSafeInteger(e.size) && e.size >= 0);
    }
    for (const e of o.entries) {
      if (e.kind === 'file') assert.ok(!o.entries.some((x) => x.path.startsWith(e.path + '/')), e.path);
    }
  });
});

test('decodePipeMessage returns a known message or throws a ProtocolError', () => {
  const seeds = [
    encodeHello(0, new Uint8Array(32).fill(3)), encodeAccept([0, 5]), encodeAbort('x', 'why'),
    encodeChunk(1, 2, new Uint8Array([1, 2, 3])), encodeFileEnd(2, new Uint8Array(32)), ...encodeOfferParts('{"kind":"text","text":"hi"}'),
    new Uint8Array([MSG.done]), new Uint8Array([MSG.select]),
  ];
  const known = new Set(Object.keys(MSG));
  property(seeds, 2, (input) => {
    const m = decodePipeMessage(input);
    assert.ok(known.has(m.type), m.type);
    if (m.type === 'hello') assert.equal(m.binding.length, 32);
    if (m.type === 'accept') assert.ok(m.offsets.every((o) => Number.isFinite(o) && o >= 0));
  });
});

test('parseSecret gives a nameplate and a password, or a usage error', () => {
  const seeds = [utf8('7-tumbler-oxcart'), utf8('http://h:1/r#12-AAAAAAAAAAAAAAAAAAAAAA'), utf8(' 99-acorn-zebra ')];
  property(seeds, 3, (input) => {
    const s = parseSecret(new TextDecoder().decode(input));
    assert.match(s.nameplate, /^[1-9][0-9]{0,8}$/);
    assert.ok(s.kind === 1 || s.kind === 2);
  });
});

test('displayText leaves nothing a terminal or a page would act on or hide', () => {
  const seeds = [utf8('plain'), utf8('a\u001b]0;t\u0007b'), utf8('x\u202ey\u200bz\nline\tTab')];
  property(seeds, 4, (input) => {
    const out = displayText(new TextDecoder().decode(input));
    assert.ok(!HIDDEN.test(out), JSON.stringify(out));
  });
});
