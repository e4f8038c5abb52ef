// What both directions share: WebSockets awaited message by message, the rendezvous channel, the
// relay over a WebSocket, and the record layer on it.
import {
  MAX_RECORD, MailboxBox, ProtocolError, RECORD_HEADER_BYTES, RELAY_STATUS, concat, decodePipeMessage,
  displayText, encodeHello, fromBase64, fromUtf8, helloBinding, readU32, relayHello, toBase64, u32, utf8,
} from './protocol.js';

// A WebSocket whose messages are awaited in order.
export class Socket {
  // Opens it with WebSocketImpl; where that fails and Socket.overHttps is set (the pages set it to
  // tunnelWebSocket(fetch), tunnel_socket.js), the same WebSocket inside HTTPS requests: what a
  // proxy that removes the upgrade (squid intercepting TLS) lets through. carrier says which.
  static async open(WebSocketImpl, url, timeoutMs = 10000) {
    try {
      const s = await Socket.openWith(WebSocketImpl, url, timeoutMs);
      s.carrier = 'WebSocket';
      return s;
    } catch (e) {
      if (!Socket.overHttps || WebSocketImpl === Socket.overHttps) throw e;
      const s = await Socket.openWith(Socket.overHttps, url, timeoutMs).catch(() => {
        throw e;
      });
      s.carrier = 'HTTPS requests';
      return s;
    }
  }
  static openWith(WebSocketImpl, url, timeoutMs) {
    return new Promise((resolve, reject) => {
      const ws = new WebSocketImpl(url);
      ws.binaryType = 'arraybuffer';
      const s = new Socket(ws);
      const timer = setTimeout(() => {
        ws.close();
        reject(new ProtocolError('server_unreachable', 'no answer from ' + url));
      }, timeoutMs);
      ws.onopen = () => {
        clearTimeout(timer);
        resolve(s);
      };
      ws.onerror = () => {
        clearTimeout(timer);
        reject(new ProtocolError('server_unreachable', 'could not reach the ferry server at ' + url));
      };
    });
  }
  constructor(ws) {
    this.ws = ws;
    this.queue = [];
    this.waiting = null;
    this.closed = null;
    this.whenClosed = new Promise((resolve) => (this.onClosed = resolve));
    ws.onmessage = (e) => this.push({ data: e.data });
    ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.onClosed();
      this.push(null);
    };
  }
  // Resolves once closed, or after ms.
  closedWithin(ms) {
    return Promise.race([this.whenClosed, new Promise((r) => setTimeout(r, ms))]);
  }
  push(item) {
    if (this.waiting) {
      const w = this.waiting;
      this.waiting = null;
      w(item);
    } else {
      this.queue.push(item);
    }
  }
  // The next message (string or Uint8Array); null once closed.
  async next() {
    const item = this.queue.length ? this.queue.shift() : await new Promise((r) => (this.waiting = r));
    if (item === null) {
      this.queue.push(null); // stays closed
      return null;
    }
    return typeof item.data === 'string' ? item.data : new Uint8Array(item.data);
  }
  send(data) {
    this.ws.send(data);
  }
  close() {
    this.ws.close();
  }
}

// Bytes from the relay as a stream: exact reads across message boundaries. They come as the relay
// WebSocket's messages, or, once useBody() was called, as a streamed HTTP response's body (browsers
// read those several times faster). Either way a close frame with 4000 + status on the WebSocket
// carries the relay's reason for ending.
export class RelayStream {
  constructor(socket, lost = 'the connection through the relay closed unexpectedly') {
    this.socket = socket;
    this.lost = lost; // what an unexpected end means, for the person
    this.body = null; // a ReadableStream reader, once the bytes come that way
    this.chunks = []; // received pieces not yet read, oldest first
    this.head = 0; // bytes of chunks[0] already read
    this.available = 0;
  }
  useBody(reader) {
    this.body = reader;
  }
  // The relay's reason for an unexpected end, as an error.
  ended() {
    const c = this.socket.closed || {};
    if (c.code >= 4000 && c.code < 4256) {
      return new ProtocolError(c.code === 4000 + RELAY_STATUS.limit ? 'relay_limit' : 'relay_refused',
        'the relay ended the transfer: ' + c.reason);
    }
    return new ProtocolError('peer_gone', this.lost);
  }
  async nextPiece() {
    if (this.body) {
      const r = await this.body.read().catch(() => ({ done: true }));
      if (!r.done) return r.value;
      await this.socket.closedWithin(1000); // the reason, if any, is on its way there
      throw this.ended();
    }
    const m = await this.socket.next();
    if (m === null) throw this.ended();
    if (typeof m === 'string') throw new ProtocolError('protocol', 'the relay sent text');
    return m;
  }
  // Hands the next n bytes to put(piece, at) piece by piece, copying nothing itself.
  async readInto(n, put) {
    let at = 0;
    while (at < n) {
      if (this.available === 0) {
        const m = await this.nextPiece();
        this.chunks.push(m);
        this.available += m.length;
      }
      const c = this.chunks[0];
      const take = Math.min(c.length - this.head, n - at);
      put(c.subarray(this.head, this.head + take), at);
      at += take;
      this.head += take;
      this.available -= take;
      if (this.head === c.length) {
        this.chunks.shift();
        this.head = 0;
      }
    }
  }
  // Exactly n bytes, copied once: pieces are collected, not concatenated as they come (a 1 MiB
  // record may arrive in many small pieces).
  async read(n) {
    while (this.available < n) {
      const m = await this.nextPiece();
      this.chunks.push(m);
      this.available += m.length;
    }
    const first = this.chunks[0];
    if (first.length - this.head >= n) { // the common case for small reads: no copy
      const out = first.subarray(this.head, this.head + n);
      this.head += n;
      this.available -= n;
      if (this.head === first.length) {
        this.chunks.shift();
        this.head = 0;
      }
      return out;
    }
    const out = new Uint8Array(n);
    await this.readInto(n, (piece, at) => out.set(piece, at));
    return out;
  }
}

export function websocketBase(server) {
  const u = new URL(server);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ProtocolError('usage', 'the server URL must start with http:// or https://');
  }
  return (u.protocol === 'https:' ? 'wss://' : 'ws://') + u.host + u.pathname.replace(/\/$/, '');
}


// Where the pair meets: the relay a server's cluster named in "paired" (docs/operations.md),
// else the rendezvous server itself.
export function relayBase(paired, base) {
  return typeof paired.relay === 'string' && paired.relay ? websocketBase(paired.relay) : base;
}

const SERVER_ERRORS = { code_unknown: 'code_unknown', code_taken: 'code_taken', code_used: 'code_used' };

// The rendezvous WebSocket: JSON messages, server errors as ProtocolErrors, opaque bodies.
export class Rendezvous {
  static async open(WebSocketImpl, base) {
    return new Rendezvous(await Socket.open(WebSocketImpl, base + '/v1/rendezvous'));
  }
  constructor(socket) {
    this.socket = socket;
  }
  async next() {
    const text = await this.socket.next();
    if (text === null) throw new ProtocolError('server_error', 'the server closed the connection');
    const m = JSON.parse(text);
    if (m.type === 'error') throw new ProtocolError(SERVER_ERRORS[m.code] || 'server_error', m.message);
    if (m.type === 'peer_left') throw new ProtocolError('peer_gone', 'the other side went away');
    return m;
  }
  async welcome() {
    const w = await this.next();
    if (w.type !== 'welcome' || w.version !== 1) {
      throw new ProtocolError('server_error', 'the server speaks another version of the ferry protocol');
    }
    // The server's STUN ports: where a WebRTC data channel learns this side's public address.
    this.stun = Array.isArray(w.stun) ? w.stun.filter((p) => Number.isInteger(p) && p > 0 && p < 65536) : [];
  }
  async nextBody() {
    const m = await this.next();
    if (m.type !== 'message') throw new ProtocolError('server_error', 'the server answered out of order');
    return fromBase64(m.body);
  }
  send(obj) {
    this.socket.send(JSON.stringify(obj));
  }
  sendBody(b) {
    this.send({ type: 'message', body: toBase64(b) });
  }
  close() {
    this.socket.close();
  }
}

// open(len) -> the plaintext of the next record (len bytes of ciphertext from stream), or null if
// it fails authentication. pull: a secretstream state from init_pull. Where libsodium's raw
// functions are at hand (the browser bundle and Node both have them; `raw: false` leaves them
// out), records are opened inside its own memory: the ciphertext is gathered there straight from
// the received pieces and the plaintext leaves as one fresh buffer, one copy each way instead of
// three (the wrapper's pull copies in and out, and the pieces had to be joined first).
export function recordOpener(sodium, pull, stream, { raw = true } = {}) {
  const lib = sodium.libsodium;
  if (!raw || !lib || typeof lib._malloc !== 'function' ||
      typeof lib._crypto_secretstream_xchacha20poly1305_pull !== 'function') {
    return async (len) => {
      const r = sodium.crypto_secretstream_xchacha20poly1305_pull(pull, await stream.read(len));
      return r ? r.message : null;
    };
  }
  const cipher = lib._malloc(MAX_RECORD);
  const plain = lib._malloc(MAX_RECORD);
  const tag = lib._malloc(1);
  let freed = false;
  // (HEAPU8 is replaced when the memory grows: looked up at each use.)
  const put = (piece, at) => {
    if (!freed) lib.HEAPU8.set(piece, cipher + at);
  };
  const open = async (len) => {
    if (len > MAX_RECORD) return null;
    await stream.readInto(len, put);
    if (freed) throw new ProtocolError('peer_gone', 'the connection was closed');
    // (state, m, mlen_p, tag_p, c, clen as two 32-bit halves, ad, adlen as two halves)
    if (lib._crypto_secretstream_xchacha20poly1305_pull(pull, plain, 0, tag, cipher, len, 0, 0, 0, 0) !== 0) return null;
    return lib.HEAPU8.slice(plain, plain + len - 17);
  };
  // Gives the memory back; a read still waiting then ends with an error.
  open.free = () => {
    if (freed) return;
    freed = true;
    for (const p of [cipher, plain, tag]) lib._free(p);
  };
  return open;
}

Socket.overHttps = null;

// The ICE servers for a data channel: the ferry server's first STUN port (its welcome says which),
// at the server's own host; no TURN (the relay is ferry's fallback).
export function iceServersFor(server, rv) {
  const host = new URL(server).hostname;
  return rv.stun.length ? [{ urls: 'stun:' + host + ':' + rv.stun[0] }] : [];
}

// When the relay won while the data channel is still opening, the first bytes wait this long for
// it (the receiver's select, the sender's first chunk): on a LAN or loopback it opens a few hundred
// milliseconds after the relay, and every byte sent before then crosses the server. A channel
// that fails ends the wait at once.
const HOLD_FOR_DIRECT_MS = 1000;

// What p resolves to within HOLD_FOR_DIRECT_MS, else null.
export async function holdForDirect(p) {
  let timer;
  const held = await Promise.race([p, new Promise((r) => (timer = setTimeout(() => r(null), HOLD_FOR_DIRECT_MS)))]);
  clearTimeout(timer);
  return held;
}

// The first of promises that resolves to something other than null; null when all did.
export function firstOf(promises) {
  return new Promise((resolve) => {
    let left = promises.length;
    if (left === 0) resolve(null);
    for (const p of promises) {
      p.then((r) => {
        if (r) resolve(r);
        else if (--left === 0) resolve(null);
      });
    }
  });
}

// Both sides' race, from either side ('S' or 'R') after key confirmation: the candidates notes
// (with webrtc_offer where rtc is given), then the relay pipe and a data channel, both at once,
// their hellos exchanged. This side offers the channel where the peer answers (its note names
// webrtc: a CLI, or a send page), and answers where it is a send page and the peer offers (a
// receive page); two pages thus meet with the receiver offering.
// Returns { relay, direct, tried, note }: promises of the pipes (null for one that failed; direct is null
// when not tried), and what each failure said, for the error when neither opens.
// comeback: this side reconnects after a break and continues (the peer may keep its code for it).
export async function startPipes({ sodium, WebSocket, fetch, rtc, rv, keys, grant, base, iceServers, side, onEvent, comeback = false }) {
  const peer = side === 'S' ? 'receiver' : 'sender';
  // The data channel's offer is made while the notes are exchanged.
  const opening = rtc ? rtc.open({ iceServers }) : null;
  if (opening) opening.catch(() => {}); // (its failure is reported below, where it is used)
  const mailbox = sealedMailbox(sodium, rv, keys, side);
  const myNote = { type: 'candidates', candidates: [], relay: grant !== null };
  if (rtc) myNote.webrtc_offer = true; // its offer follows, if the peer names webrtc
  // A send page also answers a receive page's offer (the receiver offers when both can).
  const answering = side === 'S' && rtc && typeof rtc.answer === 'function';
  const features = [...(answering ? ['webrtc'] : []), ...(comeback ? ['comeback'] : [])];
  if (features.length) myNote.features = features;
  const note = await exchangeNotes({ mailbox, side, myNote });
  const tried = [];
  const failed = (e) => {
    tried.push('WebRTC data channel: ' + e.message);
    onEvent({ event: 'note', message: `No direct path to the ${peer} (${e.message}); the relay carries the bytes.` });
    return null;
  };
  const role = webrtcRole({ side, rtc: Boolean(rtc), answering, note });
  const answers = role === 'answer';
  const offers = role === 'offer';
  let direct = null;
  if (answers) direct = answerWebRtcPipe({ sodium, rtc, iceServers, mailbox, keys, side }).catch(failed);
  if (offers) direct = openWebRtcPipe({ sodium, opening, mailbox, keys, side }).catch(failed);
  if (opening && !offers) opening.then((session) => session.close(), () => {});
  const relay = relayPipeAfterNotes({ sodium, WebSocket, fetch, base, keys, grant, side, note }).catch((e) => {
    tried.push('relay: ' + e.message);
    return null;
  });
  return { relay, direct, tried, note };
}

// Which part of the WebRTC exchange this side takes, from the peer's candidates note: 'offer'
// where the peer answers (its note names webrtc: a CLI, or a send page), 'answer' where this side
// is a send page that can answer (answering) and the peer offers (a receive page), else null.
// A CLI never offers, so two pages meet with the receiver offering.
export function webrtcRole({ side, rtc, answering, note }) {
  if (!rtc) return null;
  if (side === 'S' && answering && note.webrtc_offer === true) return 'answer';
  return names(note, 'webrtc') ? 'offer' : null;
}

// The error when no pipe opened: what each attempt said.
export function noPath(tried, peer) {
  return new ProtocolError('no_path', tried.length === 1 ? tried[0].replace(/^relay: /, '') : `no path to the ${peer}: ` + tried.join('; '));
}

// Meets the peer at the relay (side 'S' or 'R') and sets up the record layer: { sendRecord,
// readRecord, drain, close }. sendKey/receiveKey: this side's and the peer's stream keys. With
// fetch, the bytes for this side come as a streamed GET (server/relay_link.hpp), the rest on the
// WebSocket.
export async function openRelayPipe({ sodium, WebSocket, fetch, base, grant, side, sendKey, receiveKey }) {
  const ticket = fetch ? sodium.to_hex(sodium.randombytes_buf(16)) : null;
  const relay = await Socket.open(WebSocket, base + '/v1/relay' + (ticket ? '?down=' + ticket : ''));
  // The server knows the ticket once the WebSocket is open.
  const download = ticket
    ? fetch(base.replace(/^ws/, 'http') + '/v1/relay/down/' + ticket, { cache: 'no-store' }).catch(() => null)
    : null;
  relay.send(relayHello(grant, side));
  const stream = new RelayStream(relay);
  for (;;) {
    const status = (await stream.read(1))[0];
    if (status === RELAY_STATUS.paired) break;
    if (status !== RELAY_STATUS.waiting) {
      await stream.read(1); // throws with the relay's own sentence (its close frame)
      throw new ProtocolError('relay_refused', 'the relay refused the session (status ' + status + ')');
    }
  }
  if (download) {
    const response = await download;
    if (!response || !response.ok || !response.body) {
      relay.close();
      throw new ProtocolError('server_error', 'the relay download did not start' +
        (response ? ' (HTTP ' + response.status + ')' : ': the connection failed'));
    }
    stream.useBody(response.body.getReader());
  }
  const pipe = await recordPipe({ sodium, socket: relay, stream, sendKey, receiveKey });
  pipe.carrier = relay.carrier; // what carries it to the relay: 'WebSocket' or 'HTTPS requests'
  return pipe;
}

// The record layer over a socket (a Socket: the relay's WebSocket, or a WebRTC data channel) whose
// bytes come through stream (a RelayStream): both stream headers, then length-prefixed records.
// { sentHeader, receivedHeader, sendRecord, readRecord, drain, close }.
async function recordPipe({ sodium, socket, stream, sendKey, receiveKey }) {
  const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(sendKey);
  socket.send(push.header);
  const peerHeader = (await stream.read(RECORD_HEADER_BYTES)).slice();
  const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(peerHeader, receiveKey);
  const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
  const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
  const open = recordOpener(sodium, pull, stream);
  return {
    sentHeader: push.header,
    receivedHeader: peerHeader,
    sendRecord(plain, final = false) {
      const c = sodium.crypto_secretstream_xchacha20poly1305_push(push.state, plain, null, final ? TAG_FINAL : TAG_MESSAGE);
      socket.send(concat(u32(c.length), c));
    },
    async readRecord() {
      const len = readU32(await stream.read(4));
      if (len < 17 || len > MAX_RECORD) throw new ProtocolError('protocol', 'record length out of range');
      const message = await open(len);
      if (!message) throw new ProtocolError('protocol', 'record failed authentication');
      return decodePipeMessage(message);
    },
    // Waits while more than limit bytes wait in the socket's send buffer (back-pressure).
    async drain(limit = 4 << 20) {
      while (socket.ws.bufferedAmount > limit) await new Promise((r) => setTimeout(r, 2));
    },
    close() {
      if (open.free) open.free();
      setTimeout(() => socket.close(), 500);
    },
  };
}

// Both hellos, bound to this pipe's two stream headers (see helloBinding): a hello recorded on
// another pipe decrypts but authenticates nothing here.
async function exchangeHellos(sodium, pipe, keys, sender) {
  const [senderHeader, receiverHeader] = sender ? [pipe.sentHeader, pipe.receivedHeader] : [pipe.receivedHeader, pipe.sentHeader];
  const binding = (s) => helloBinding(sodium, keys.hello, s, senderHeader, receiverHeader);
  pipe.sendRecord(encodeHello(sender ? 0 : 1, binding(sender ? 0 : 1)));
  const hello = await pipe.readRecord();
  if (hello.type !== 'hello' || hello.side !== (sender ? 1 : 0)) throw new ProtocolError('protocol', 'unexpected hello');
  if (!sodium.memcmp(hello.binding, binding(sender ? 1 : 0))) throw new ProtocolError('protocol', "the peer's hello belongs to another connection");
}

// The sealed mailbox after key confirmation, from side 'S' or 'R': send() and next() JSON notes.
export function sealedMailbox(sodium, rv, keys, side) {
  const sender = side === 'S';
  const seal = new MailboxBox(sodium, sender ? keys.mailboxSender : keys.mailboxReceiver);
  const open = new MailboxBox(sodium, sender ? keys.mailboxReceiver : keys.mailboxSender);
  return {
    send: (note) => rv.sendBody(seal.seal(utf8(JSON.stringify(note)))),
    next: async () => JSON.parse(fromUtf8(open.open(await rv.nextBody()))),
  };
}

// Both candidates notes; returns the peer's (a browser offers no candidates of its own: only the
// relay, and, with features ['webrtc'], a data channel offered afterwards).
export async function exchangeNotes({ mailbox, side, myNote }) {
  const peer = side === 'S' ? 'receiver' : 'sender';
  mailbox.send(myNote);
  const note = await mailbox.next();
  if (note.type === 'abort') throw new ProtocolError(note.code || 'peer_gone', `the ${peer} gave up: ${displayText(note.message)}`);
  if (note.type !== 'candidates') throw new ProtocolError('protocol', `the ${peer} sent no candidates note`);
  return note;
}

// Whether a peer's note names a feature.
export const names = (note, feature) => Array.isArray(note.features) && note.features.includes(feature);

// The relay pipe after the notes, its hellos exchanged.
export async function relayPipeAfterNotes({ sodium, WebSocket, fetch, base, keys, grant, side, note }) {
  const sender = side === 'S';
  if (!grant || !note.relay) {
    throw new ProtocolError('no_path', `the ${sender ? 'receiver' : 'sender'} cannot be reached from a browser: it does not use the relay`);
  }
  const pipe = await openRelayPipe({
    sodium, WebSocket, fetch, base, grant, side,
    sendKey: sender ? keys.streamSender : keys.streamReceiver,
    receiveKey: sender ? keys.streamReceiver : keys.streamSender,
  });
  await exchangeHellos(sodium, pipe, keys, sender);
  return pipe;
}

const RTC_MESSAGE = 64 * 1024;

// The peer's next WebRTC note's sdp, through the sealed mailbox (later candidates notes, the ports a
// router mapped, mean nothing to a browser).
async function webrtcNote(mailbox) {
  for (;;) {
    const note = await mailbox.next();
    if (note.type === 'webrtc' && typeof note.sdp === 'string') return note.sdp;
    if (note.type === 'abort') throw new ProtocolError(note.code || 'peer_gone', 'the peer gave up: ' + displayText(note.message));
  }
}

// Runs steps(within) where within(promise) fails once timeoutMs have passed since the start.
async function withDeadline(timeoutMs, steps) {
  let timer;
  const deadline = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new ProtocolError('no_path', 'the data channel did not open in time')), timeoutMs);
  });
  deadline.catch(() => {});
  try {
    return await steps((p) => Promise.race([deadline, p]));
  } finally {
    clearTimeout(timer);
  }
}

// The record layer and the hellos on an open data channel, as on the relay.
async function channelPipe({ sodium, channel, keys, side, within }) {
  const sender = side === 'S';
  channel.binaryType = 'arraybuffer';
  const socket = new Socket(channel);
  // Records are sent in messages of at most 64 KiB: every WebRTC stack takes those (a 256 KiB
  // chunk's record is over the CLI's max-message-size), and SCTP interleaves them better.
  socket.send = (bytes) => {
    for (let at = 0; at < bytes.length; at += RTC_MESSAGE) channel.send(bytes.subarray(at, at + RTC_MESSAGE));
  };
  const pipe = await within(recordPipe({
    sodium, socket, stream: new RelayStream(socket, 'the WebRTC data channel closed unexpectedly'),
    sendKey: sender ? keys.streamSender : keys.streamReceiver,
    receiveKey: sender ? keys.streamReceiver : keys.streamSender,
  }));
  await within(exchangeHellos(sodium, pipe, keys, sender));
  pipe.carrier = 'WebRTC data channel';
  return pipe;
}

// A direct pipe over a WebRTC data channel this side offers (the peer answers: its note named
// webrtc): rtc.open({ iceServers }) (opening) makes the offer, sent sealed through the mailbox;
// the peer's answer comes the same way, so the DTLS fingerprints each side pins are the peers'
// own, never the server's. Then the record layer and the hellos, as on the relay.
// rtc: { open({ iceServers }) -> { offer, accept(answer) -> channel (RTCDataChannel-like, open),
// close() } }. opening: rtc.open()'s promise, started early (gathering runs while the notes are
// exchanged).
export async function openWebRtcPipe({ sodium, opening, mailbox, keys, side, timeoutMs = 20000 }) {
  const session = await opening;
  try {
    mailbox.send({ type: 'webrtc', sdp: session.offer });
    return await withDeadline(timeoutMs, async (within) => {
      const answer = await within(webrtcNote(mailbox));
      const channel = await within(session.accept(answer));
      return channelPipe({ sodium, channel, keys, side, within });
    });
  } catch (e) {
    session.close();
    throw e;
  }
}

// The same where the peer (a receive page) offers and this side answers: rtc.answer({ iceServers,
// offer }) -> { answer, opened() -> channel, close() }.
export async function answerWebRtcPipe({ sodium, rtc, iceServers, mailbox, keys, side, timeoutMs = 20000 }) {
  let session = null;
  try {
    return await withDeadline(timeoutMs, async (within) => {
      const offer = await within(webrtcNote(mailbox));
      session = await within(rtc.answer({ iceServers, offer }));
      mailbox.send({ type: 'webrtc', sdp: session.answer });
      const channel = await within(session.opened());
      return channelPipe({ sodium, channel, keys, side, within });
    });
  } catch (e) {
    if (session) session.close();
    throw e;
  }
}

// After key confirmation, from either side ('S' or 'R'): the candidates notes through the sealed
// mailbox, then the relay pipe and the authenticated hellos. Returns the pipe, ready for select
// (pipe.peerNote: the peer's candidates note as it came).
// (myNote: what this side says of itself; only the hostile-peer tests say anything else.)
export async function meetAtRelay({
  sodium, WebSocket, fetch, base, rv, keys, grant, side, myNote = { type: 'candidates', candidates: [], relay: grant !== null },
}) {
  const note = await exchangeNotes({ mailbox: sealedMailbox(sodium, rv, keys, side), side, myNote });
  const pipe = await relayPipeAfterNotes({ sodium, WebSocket, fetch, base, keys, grant, side, note });
  pipe.peerNote = note;
  return pipe;
}
