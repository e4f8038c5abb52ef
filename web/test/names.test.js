// The page's name rules against the table the CLI's unit tests read too
// (tests/data/hostile_names.json): one rule set, two implementations, one list of hostile names.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { ProtocolError, displayName, displayText, parseOffer, safeRelativePath, utf8 } from '../src/protocol.js';
import { offerEntries, send } from '../src/send.js';

const table = JSON.parse(readFileSync(new URL('../../tests/data/hostile_names.json', import.meta.url)));

// A row as the bytes a sender would put in its offer.
function nameBytes(row) {
  if (row.hex !== undefined) return Uint8Array.from(row.hex.match(/../g), (h) => parseInt(h, 16));
  if (row.repeat !== undefined) return utf8(row.repeat.repeat(row.times) + (row.suffix ?? ''));
  return utf8(row.name);
}

// The offer {"kind":"files","entries":[{"path":NAME,...}]} with NAME's raw bytes spliced in.
function offerWith(bytes) {
  const [head, tail] = ['{"kind":"files","entries":[{"path":"', '","kind":"file","size":1}]}'];
  const escaped = [];
  for (const b of bytes) {
    if (b === 0x22 || b === 0x5c) escaped.push(0x5c, b);
    else if (b < 0x20) escaped.push(...utf8('\\u' + b.toString(16).padStart(4, '0')));
    else escaped.push(b);
  }
  return new Uint8Array([...utf8(head), ...escaped, ...utf8(tail)]);
}

test('every refused name of the shared table is refused by the page', () => {
  assert.ok(table.refused.length > 30);
  for (const row of table.refused) {
    assert.throws(() => parseOffer(offerWith(nameBytes(row))), ProtocolError, row.why);
    if (row.hex === undefined) {
      const name = row.repeat !== undefined ? row.repeat.repeat(row.times) + (row.suffix ?? '') : row.name;
      assert.equal(safeRelativePath(name), false, row.why);
    }
  }
});

test('every ordinary name of the shared table is accepted by the page', () => {
  for (const name of table.accepted) {
    assert.equal(safeRelativePath(name), true, name);
    assert.equal(parseOffer(offerWith(utf8(name))).entries[0].path, name);
  }
});

test('conflicting offers of the shared table are refused by the page', () => {
  for (const row of table.offers_refused) {
    assert.throws(() => parseOffer(utf8(JSON.stringify({ kind: 'files', entries: row.entries }))), ProtocolError, row.why);
  }
});

test('an offer past the entry limit is refused before its names are looked at', () => {
  const entries = Array.from({ length: 100001 }, (_, i) => ({ path: 'f' + i, kind: 'file', size: 0 }));
  assert.throws(() => parseOffer(utf8(JSON.stringify({ kind: 'files', entries }))), /too large/);
});

test('text for people has controls and text-direction characters made visible', () => {
  assert.equal(displayText('a\u001b]0;x\u0007b'), 'a\\u{001b}]0;x\\u{0007}b');
  assert.equal(displayText('invoice\u202efdp.exe'), 'invoice\\u{202e}fdp.exe');
  assert.equal(displayText('two\nlines\tok'), 'two\nlines\tok');
});

// The page's sender checks what it would offer by the same rules, before it asks the server for a
// code: the server below does not exist, so reaching it would fail otherwise.
test("the page's sender refuses what receivers would refuse, before any code", async () => {
  const items = (...paths) => paths.map((p) => ({ path: p, size: 1, slice: () => new Blob(['x']) }));
  const refuse = async (list, what) => {
    await assert.rejects(
      send({ sodium: null, WebSocket: null, server: 'http://127.0.0.1:9', items: list, onCode: () => assert.fail('a code for ' + what) }),
      (e) => e instanceof ProtocolError && e.code === 'bad_name' && !/[\u0000-\u001f\u007f-\u009f\u202e]/.test(e.message),
      what,
    );
  };
  for (const row of table.refused) {
    if (row.hex !== undefined) continue; // raw bytes: no JavaScript string names them
    await refuse(items(row.repeat !== undefined ? row.repeat.repeat(row.times) + (row.suffix ?? '') : row.name), row.why);
  }
  for (const row of table.offers_refused) {
    await refuse(row.entries.map((e) => (e.kind === 'dir' ? { path: e.path, dir: true } : { path: e.path, size: e.size ?? 1 })), row.why);
  }
  for (const name of table.accepted) assert.equal(offerEntries(items(name))[0].path, name);
});

test('names for people are on one line, their backslashes and escapes told apart', () => {
  assert.equal(displayName('a\nb\tc\\d\u202e'), 'a\\u{000a}b\\u{0009}c\\\\d\\u{202e}');
  assert.equal(displayName('plain name.txt'), 'plain name.txt');
});

test("the page's offer carries each file's modification time in whole seconds, when it is one", () => {
  const [dir, file, odd] = offerEntries([
    { path: 'album', dir: true },
    { path: 'album/a.jpg', size: 3, mtime: 1700000000999 },
    { path: 'album/b.jpg', size: 3, mtime: -5 },
  ]);
  assert.equal(dir.mtime, undefined);
  assert.equal(file.mtime, 1700000000);
  assert.equal(odd.mtime, undefined);
});

test('a code typed into the page is read as the CLI reads it', async () => {
  const { normalizeCode } = await import('../src/protocol.js');
  const { WORDS } = await import('../src/wordlist.js');
  const [a, b] = [WORDS[10], WORDS[200]];
  assert.equal(normalizeCode(`7-${a}-${b}`, WORDS), `7-${a}-${b}`);
  assert.equal(normalizeCode(`  7 ${a.toUpperCase()}   ${b} `, WORDS), `7-${a}-${b}`);
  // A unique prefix is completed; an ambiguous one asks for more.
  const unique = WORDS.map((w) => w.slice(0, 4)).find((p) => WORDS.filter((w) => w.startsWith(p)).length === 1);
  const full = WORDS.find((w) => w.startsWith(unique));
  assert.equal(normalizeCode(`12 ${unique} ${b}`, WORDS), `12-${full}-${b}`);
  const shared = WORDS.map((w) => w.slice(0, 1)).find((p) => WORDS.filter((w) => w.startsWith(p)).length > 1);
  assert.throws(() => normalizeCode(`12 ${shared} ${b}`, WORDS), /type more of it/);
  // A pasted link is its fragment.
  const link = 'https://ferry.example.org/r#42-AAAAAAAAAAAAAAAAAAAAAA';
  assert.equal(normalizeCode(link, WORDS), '42-AAAAAAAAAAAAAAAAAAAAAA');
  for (const bad of ['', 'tumbler-oxcart', `0-${a}-${b}`, `7-${a}`, `7-${a}-zzzzzz`, '7-\u001b[2J-x', `7-${a}-${b}-${a}-${b}-${a}-${b}-${a}-${b}-${a}`]) {
    assert.throws(() => normalizeCode(bad, WORDS), ProtocolError, bad);
  }
  // What is quoted back shows letters only.
  assert.throws(() => normalizeCode('7-ab\u202ecd-x', WORDS), (e) => !/[\u202e\u001b]/.test(e.message));
});
