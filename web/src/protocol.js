// ferry's wire protocol for the browser (and Node): the same bytes the C++ client speaks
// (docs/protocol.md). Pure functions and small classes over Uint8Array; no I/O, no DOM. The caller
// passes in a ready libsodium (libsodium-wrappers-sumo) so this file runs anywhere.

const enc = new TextEncoder();
const dec = new TextDecoder();

export const utf8 = (s) => enc.encode(s);
export const fromUtf8 = (b) => dec.decode(b);

export function concat(...parts) {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let at = 0;
  for (const p of parts) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

export const u32 = (v) => new Uint8Array([v >>> 24, (v >>> 16) & 255, (v >>> 8) & 255, v & 255]);
export const readU32 = (b, at = 0) => ((b[at] << 24) >>> 0) + (b[at + 1] << 16) + (b[at + 2] << 8) + b[at + 3];
export const readU64 = (b, at = 0) => readU32(b, at) * 2 ** 32 + readU32(b, at + 4);
export function u64(v) {
  return concat(u32(Math.floor(v / 2 ** 32)), u32(v % 2 ** 32));
}

// CPace's prepend_len: LEB128 length, then the data.
export function lv(data) {
  const len = [];
  let n = data.length;
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    len.push(b);
  } while (n > 0);
  return concat(new Uint8Array(len), data);
}

export const toHex = (b) => Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('');
export function fromHex(s) {
  if (s.length % 2 !== 0 || /[^0-9a-f]/i.test(s)) throw new Error('bad hex');
  const out = new Uint8Array(s.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = parseInt(s.substr(2 * i, 2), 16);
  return out;
}
export function toBase64(b) {
  let s = '';
  for (const x of b) s += String.fromCharCode(x);
  return btoa(s);
}
export function fromBase64(s) {
  const bin = atob(s);
  return Uint8Array.from(bin, (c) => c.charCodeAt(0));
}
export function fromBase64url(s) {
  return fromBase64(s.replace(/-/g, '+').replace(/_/g, '/') + '='.repeat((4 - (s.length % 4)) % 4));
}

export class ProtocolError extends Error {
  constructor(code, message) {
    super(message);
    this.code = code; // the same names as the CLI's --json error codes
  }
}

// --- the wire version ---------------------------------------------------------------------------
// Every PAKE message starts with it. A peer whose message names another version runs another
// ferry: the side that sees it answers with a version notice (0, its version) and both stop with
// the error "version", so each person is told to update (docs/protocol.md).
export const WIRE_VERSION = 1;
export const versionNotice = () => new Uint8Array([0, WIRE_VERSION]);

// The error for a PAKE message of another version (or the peer's notice); null when it is ours.
export function otherVersion(message) {
  if (message.length === 0 || message[0] === WIRE_VERSION) return null;
  const theirs = message[0] === 0 ? (message.length === 2 ? String(message[1]) : 'unknown') : String(message[0]);
  return new ProtocolError(
    'version',
    `the other computer runs another version of ferry (wire protocol ${theirs}; this page speaks ${WIRE_VERSION})` +
      (message[0] === 0 ? ' and stopped' : '') + '; nothing was sent. Update ferry on the computer with the older version',
  );
}

// --- codes and links ---------------------------------------------------------------------------
// "7-tumbler-oxcart" (typed) or a link's fragment "7-<base64url 16 bytes>".
export function parseSecret(text) {
  const t = text.trim().replace(/^.*#/, '');
  const m = /^([1-9][0-9]{0,8})-(.+)$/.exec(t);
  if (!m) throw new ProtocolError('usage', 'that is not a ferry code or link');
  const [, nameplate, rest] = m;
  if (/^[a-z]+(-[a-z]+){1,7}$/.test(rest)) {
    return { nameplate, kind: 1, password: utf8('ferry words:' + rest) };
  }
  let secret;
  try {
    secret = fromBase64url(rest);
  } catch {
    secret = null;
  }
  if (!secret || secret.length !== 16) {
    throw new ProtocolError('usage', "the link's secret is damaged (was the link cut short?)");
  }
  return { nameplate, kind: 2, password: concat(utf8('ferry link:'), secret) };
}

// --- CPace (draft-irtf-cfrg-cpace-13, ristretto255, SHA-512) -----------------------------------
const DSI = utf8('CPaceRistretto255');
const DSI_ISK = utf8('CPaceRistretto255_ISK');
const CI = utf8('ferry-v1');

export function cpaceGenerator(sodium, prs, sid) {
  const lvLen = (n) => lv(new Uint8Array(n)).length - n;
  const used = lvLen(prs.length) + prs.length + lvLen(DSI.length) + DSI.length + 1;
  const zpad = new Uint8Array(used < 128 ? 128 - used : 0);
  const gen = concat(lv(DSI), lv(prs), lv(zpad), lv(CI), lv(sid));
  return sodium.crypto_core_ristretto255_from_hash(sodium.crypto_hash_sha512(gen));
}

// One side of CPace: its share, and finish(peerShare) giving the ISK. The sender is the initiator
// (AD "sender"), the receiver the responder (AD "receiver"); the transcript puts the initiator's
// share first.
function cpaceSide(sodium, prs, sid, initiator) {
  const g = cpaceGenerator(sodium, prs, sid);
  const scalar = sodium.crypto_core_ristretto255_scalar_random();
  const share = sodium.crypto_scalarmult_ristretto255(scalar, g);
  return {
    share,
    finish(peerShare) {
      if (!sodium.crypto_core_ristretto255_is_valid_point(peerShare)) {
        throw new ProtocolError('protocol', "the peer's PAKE message is not a valid group element");
      }
      const k = sodium.crypto_scalarmult_ristretto255(scalar, peerShare);
      const [ya, yb] = initiator ? [share, peerShare] : [peerShare, share];
      return sodium.crypto_hash_sha512(
        concat(lv(DSI_ISK), lv(sid), lv(k), lv(ya), lv(utf8('sender')), lv(yb), lv(utf8('receiver'))),
      );
    },
  };
}
export const cpaceResponder = (sodium, prs, sid) => cpaceSide(sodium, prs, sid, false);
export const cpaceInitiator = (sodium, prs, sid) => cpaceSide(sodium, prs, sid, true);

export function sessionKeys(sodium, isk) {
  const key = (label) => sodium.crypto_generichash(32, utf8('ferry-v1 ' + label), isk);
  return {
    confirmSender: key('confirm sender'),
    confirmReceiver: key('confirm receiver'),
    mailboxSender: key('mailbox sender'),
    mailboxReceiver: key('mailbox receiver'),
    streamSender: key('stream sender'),
    streamReceiver: key('stream receiver'),
    hello: key('hello'),
  };
}

// The pipe hello's channel binding (proto/key_schedule.hpp hello_binding): a hello recorded on one
// pipe authenticates no other, since each pipe's stream headers are fresh.
export function helloBinding(sodium, helloKey, side, senderHeader, receiverHeader) {
  return sodium.crypto_generichash(32, concat(utf8('ferry-v1 hello'), new Uint8Array([side]), senderHeader, receiverHeader), helloKey);
}
export function encodeHello(side, binding) {
  return concat(new Uint8Array([MSG.hello, side]), binding);
}

export function confirmationTranscript(sid, senderShare, receiverShare) {
  return concat(lv(utf8('ferry-v1 confirm')), lv(sid), lv(senderShare), lv(receiverShare));
}

// --- mailbox notes: secretbox with a little-endian counter nonce --------------------------------
export class MailboxBox {
  constructor(sodium, key) {
    this.sodium = sodium;
    this.key = key;
    this.counter = 0;
  }
  nonce() {
    const n = new Uint8Array(this.sodium.crypto_secretbox_NONCEBYTES);
    let c = this.counter++;
    for (let i = 0; i < 8; i++) {
      n[i] = c % 256;
      c = Math.floor(c / 256);
    }
    return n;
  }
  seal(plain) {
    return this.sodium.crypto_secretbox_easy(plain, this.nonce(), this.key);
  }
  open(cipher) {
    try {
      const n = this.nonce();
      return this.sodium.crypto_secretbox_open_easy(cipher, n, this.key);
    } catch {
      throw new ProtocolError('protocol', 'mailbox message failed authentication');
    }
  }
}

// --- relay hello (version 2) --------------------------------------------------------------------
export const RELAY_STATUS = { paired: 0, used: 1, sideTaken: 2, timeout: 3, malformed: 4, limit: 5, waiting: 6, expired: 7, forged: 8, shutdown: 9 };
export function relayHello(grant, side = 'R') {
  return concat(utf8('FRLY'), new Uint8Array([2, side.charCodeAt(0)]), grant);
}

// --- record layer: secretstream, u32be length prefix per record --------------------------------
export const RECORD_HEADER_BYTES = 24;
export const MAX_RECORD = (1 << 20) + 17;

// --- pipe messages ---------------------------------------------------------------------------
export const MSG = { hello: 1, select: 2, offerPart: 3, accept: 4, decline: 5, chunk: 6, fileEnd: 7, done: 8, ack: 9, abort: 10, moved: 11 };

export function encodeAccept(offsets) {
  return concat(new Uint8Array([MSG.accept]), u32(offsets.length), ...offsets.map(u64));
}
export function encodeString(s) {
  const b = utf8(s);
  return concat(u32(b.length), b);
}
export function encodeAbort(code, message) {
  return concat(new Uint8Array([MSG.abort]), encodeString(code), encodeString(message));
}
export function encodeOfferParts(offerJson, partBytes = 256 * 1024) {
  const b = utf8(offerJson);
  const parts = [];
  for (let at = 0; at === 0 || at < b.length; at += partBytes) {
    const last = at + partBytes >= b.length;
    parts.push(concat(new Uint8Array([MSG.offerPart, last ? 1 : 0]), b.subarray(at, at + partBytes)));
  }
  return parts;
}
export function encodeChunk(file, offset, data) {
  return concat(new Uint8Array([MSG.chunk]), u32(file), u64(offset), data);
}
export function encodeFileEnd(file, hash) {
  return concat(new Uint8Array([MSG.fileEnd]), u32(file), hash);
}

export function decodePipeMessage(r) {
  const type = r[0];
  const str = (at) => {
    const n = readU32(r, at);
    return [fromUtf8(r.subarray(at + 4, at + 4 + n)), at + 4 + n];
  };
  switch (type) {
    case MSG.hello:
      if (r.length !== 34) throw new ProtocolError('protocol', 'malformed hello');
      return { type: 'hello', side: r[1], binding: r.subarray(2, 34) };
    case MSG.select:
      return { type: 'select' };
    case MSG.offerPart:
      return { type: 'offerPart', last: r[1] === 1, json: r.subarray(2) };
    case MSG.chunk:
      return { type: 'chunk', file: readU32(r, 1), offset: readU64(r, 5), data: r.subarray(13) };
    case MSG.fileEnd:
      return { type: 'fileEnd', file: readU32(r, 1), hash: r.subarray(5, 37) };
    case MSG.done:
      return { type: 'done' };
    case MSG.ack:
      return { type: 'ack' };
    case MSG.moved:
      return { type: 'moved' };
    case MSG.accept: {
      const n = readU32(r, 1);
      if (r.length !== 5 + 8 * n) throw new ProtocolError('protocol', 'malformed accept');
      const offsets = [];
      for (let i = 0; i < n; i++) offsets.push(readU64(r, 5 + 8 * i));
      return { type: 'accept', offsets };
    }
    case MSG.decline: {
      const [reason] = str(1);
      return { type: 'decline', reason };
    }
    case MSG.abort: {
      const [code, at] = str(1);
      const [message] = str(at);
      return { type: 'abort', code, message };
    }
    default:
      throw new ProtocolError('protocol', 'unexpected pipe message of type ' + type);
  }
}

// The one rule set for offered names (src/proto/names.cpp split_relative_path is the CLI's copy;
// tests/data/hostile_names.json is read by both test suites): no absolute paths, drive letters,
// "..", ".", empty components or backslashes; no control characters (C0, DEL, C1), invisible or
// text-direction characters; no names ending in ".ferry-part"; at most 4096 bytes, 255 a part.
// (Invalid UTF-8 never gets here: the offer is decoded strictly.)
// eslint-disable-next-line no-control-regex
const UNSAFE_CHARS = /[\u0000-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb\\]/u;
export function safeRelativePath(path) {
  if (typeof path !== 'string' || path === '' || path.startsWith('/')) return false;
  if (utf8(path).length > 4096 || path[1] === ':' || UNSAFE_CHARS.test(path)) return false;
  // Lone surrogates cannot be written as UTF-8.
  if (/[\ud800-\udfff]/u.test(path)) return false;
  return path.split('/').every(
    (part) => part !== '' && part !== '.' && part !== '..' && utf8(part).length <= 255 && !part.toLowerCase().endsWith('.ferry-part'),
  );
}

// Text from a peer or a server, safe to show: controls and invisible or text-direction characters
// as \u{NNNN}, newlines and tabs kept. (The page shows text with textContent, never as HTML.)
// eslint-disable-next-line no-control-regex
const HIDDEN_CHARS = /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u061c\u180e\u200b-\u200f\u202a-\u202e\u2060-\u2069\ufeff\ufff9-\ufffb]/gu;
export function displayText(text) {
  return String(text).replace(HIDDEN_CHARS, (c) => '\\u{' + c.codePointAt(0).toString(16).padStart(4, '0') + '}');
}

// A file name for people, on one line: displayText, and newlines, tabs and backslashes escaped too
// (as the CLI's display_name), so a name cannot pass for two or for an escape.
export function displayName(name) {
  const escaped = String(name).replace(/[\\\n\t]/g, (c) => (c === '\\' ? '\\\\' : '\\u{' + c.codePointAt(0).toString(16).padStart(4, '0') + '}'));
  return displayText(escaped);
}

export const MAX_OFFER_ENTRIES = 100000;
export const MAX_OFFER_BYTES = 16 << 20;
const strictUtf8 = new TextDecoder('utf-8', { fatal: true });

// A name the rules refuse: path, and problem ('unsafe', 'twice' or 'both': a file and a folder).
export class NameError extends Error {
  constructor(path, problem) {
    super(problem + ': ' + String(path));
    this.path = path;
    this.problem = problem;
  }
}

// The offer's entries checked by the one rule set both sides apply (safeRelativePath, no name
// twice, no file that is also a folder) and normalised; a NameError names the first problem.
// Throws ProtocolError('bad_offer') for entries that are not entries at all.
export function checkEntries(list) {
  const seen = new Set();
  const folders = new Set(); // every path that is, or must be, a folder
  const entries = list.map((e) => {
    if (e === null || typeof e !== 'object' || !safeRelativePath(e.path)) throw new NameError(e && e.path, 'unsafe');
    if (seen.has(e.path)) throw new NameError(e.path, 'twice');
    seen.add(e.path);
    const parts = e.path.split('/');
    for (let i = 1; i < parts.length; i++) folders.add(parts.slice(0, i).join('/'));
    if (e.kind === 'dir') {
      folders.add(e.path);
      return { path: e.path, kind: 'dir', size: 0 };
    }
    // A stream (ferry send - from a pipe): its size is known only when it ends.
    if (e.kind === 'file' && e.stream === true) return { path: e.path, kind: 'file', size: 0, stream: true, exec: !!e.exec };
    if (e.kind !== 'file' || !Number.isSafeInteger(e.size) || e.size < 0) {
      throw new ProtocolError('bad_offer', 'the offer is malformed');
    }
    return { path: e.path, kind: 'file', size: e.size, exec: !!e.exec };
  });
  for (const e of entries) {
    if (e.kind === 'file' && folders.has(e.path)) throw new NameError(e.path, 'both');
  }
  return entries;
}

export function parseOffer(jsonBytes) {
  let o;
  try {
    if (jsonBytes.length > MAX_OFFER_BYTES) throw new Error('too large');
    o = JSON.parse(strictUtf8.decode(jsonBytes));
  } catch {
    throw new ProtocolError('bad_offer', 'the offer is not valid JSON');
  }
  if (o === null || typeof o !== 'object') throw new ProtocolError('bad_offer', 'the offer is malformed');
  if (o.kind === 'text' && typeof o.text === 'string') return { kind: 'text', text: o.text, entries: [] };
  if (o.kind !== 'files' || !Array.isArray(o.entries)) throw new ProtocolError('bad_offer', 'the offer is malformed');
  if (o.entries.length === 0 || o.entries.length > MAX_OFFER_ENTRIES) throw new ProtocolError('bad_offer', 'the offer is empty or too large');
  try {
    return { kind: 'files', entries: checkEntries(o.entries) };
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
    const shown = displayName(String(e.path).slice(0, 300));
    if (e.problem === 'unsafe') throw new ProtocolError('bad_offer', 'the sender offered an unsafe name: ' + shown);
    if (e.problem === 'twice') throw new ProtocolError('bad_offer', 'the offer names "' + shown + '" twice');
    throw new ProtocolError('bad_offer', 'the offer uses "' + shown + '" as both a file and a folder');
  }
}

// A code as a person types it into the page ("7 tumb oxc", "7-Tumbler-Oxcart", or a whole link
// pasted): "<number>-<word>-<word>" with each word completed from a unique prefix of ferry's list,
// as the CLI's parse_code does; or a ProtocolError('usage') saying what is wrong, with the typed
// word shown only as letters. words: the list (wordlist.js's WORDS).
export function normalizeCode(text, words) {
  const t = String(text).trim();
  if (t.includes('#')) {
    parseSecret(t); // a pasted link: its fragment, checked
    return t.replace(/^.*#/, '');
  }
  const parts = t.toLowerCase().split(/[\s-]+/).filter(Boolean);
  if (parts.length === 0) throw new ProtocolError('usage', 'type the code the sender gave you, like 7-tumbler-oxcart');
  if (!/^[1-9][0-9]{0,8}$/.test(parts[0])) {
    throw new ProtocolError('usage', 'a code starts with its number, like 7-tumbler-oxcart');
  }
  if (parts.length < 3) throw new ProtocolError('usage', 'a code has a number and at least two words, like 7-tumbler-oxcart');
  if (parts.length > 9) throw new ProtocolError('usage', 'a code has at most eight words');
  const done = parts.slice(1).map((w) => {
    const shown = w.replace(/[^a-z]/g, '?').slice(0, 20);
    if (!/^[a-z]+$/.test(w)) throw new ProtocolError('usage', `"${shown}" is not one of ferry's code words`);
    if (words.includes(w)) return w;
    const starting = words.filter((x) => x.startsWith(w));
    if (starting.length === 1) return starting[0];
    if (starting.length > 1) {
      throw new ProtocolError('usage', `"${shown}" could be ${starting.slice(0, 3).join(', ')}${starting.length > 3 ? ', …' : ''}: type more of it`);
    }
    throw new ProtocolError('usage', `"${shown}" is not one of ferry's code words (check the code you were given)`);
  });
  return parts[0] + '-' + done.join('-');
}
