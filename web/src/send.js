// Sending with ferry from JavaScript (the browser's send page, or Node in tests): a code and a
// link from the rendezvous, CPace as the initiator for whichever secret the receiver uses, then
// the relay over a WebSocket raced against a WebRTC data channel (where the receiver answers
// one), and the offer/chunks exchange, reading each file in slices so nothing is held whole. Files are Blob-like: { path, size, slice(a, b) -> { arrayBuffer() } }.
import {
  MSG, NameError, ProtocolError, checkEntries, concat, confirmationTranscript, cpaceInitiator, displayName, encodeChunk, encodeFileEnd,
  encodeOfferParts, fromHex, otherVersion, sessionKeys, toBase64, utf8, versionNotice,
} from './protocol.js';
import {
  Rendezvous, firstOf, holdForDirect, iceServersFor, meetAtRelay, noPath, relayBase, startPipes, websocketBase,
} from './session.js';
import { WORDS } from './wordlist.js';

const CHUNK = 256 * 1024;

function base64url(b) {
  return toBase64(b).replace(/\+/g, '-').replace(/\//g, '_').replace(/=+$/, '');
}

// The code and the link from the rendezvous (onCode), the receiver's claim, the PAKE as the
// initiator and key confirmation: { rv, keys, grant, base, iceServers, code, link } (base: where
// the pipe's relay is). The caller closes rv.
export async function pakeAsSender({ sodium, WebSocket, server, onCode, onEvent = () => {} }) {
  const base = websocketBase(server);
  const rv = await Rendezvous.open(WebSocket, base);
  try {
    await rv.welcome();
    rv.send({ type: 'allocate' });
    const allocated = await rv.next();
    if (allocated.type !== 'allocated') throw new ProtocolError('server_error', 'the server answered out of order');
    const nameplate = allocated.nameplate;
    const random = sodium.randombytes_buf(18);
    const words = WORDS[random[0]] + '-' + WORDS[random[1]];
    const linkSecret = random.subarray(2, 18);
    const code = nameplate + '-' + words;
    const link = server.replace(/\/$/, '') + '/r#' + nameplate + '-' + base64url(linkSecret);
    onCode({ code, link });

    const paired = await rv.next();
    if (paired.type !== 'paired') throw new ProtocolError('server_error', 'the server answered out of order');
    const sid = fromHex(paired.session);
    const grant = paired.relay_grant ? fromHex(paired.relay_grant) : null;
    onEvent({ event: 'peer' });

    const first = await rv.nextBody();
    const other = otherVersion(first);
    if (other) {
      if (first[0] !== 0) rv.sendBody(versionNotice()); // tell the other ferry which one we speak
      throw other;
    }
    if (first.length !== 34 || first[0] !== 1 || (first[1] !== 1 && first[1] !== 2)) {
      throw new ProtocolError('protocol', "the receiver's PAKE message is malformed");
    }
    const password = first[1] === 2 ? concat(utf8('ferry link:'), linkSecret) : utf8('ferry words:' + words);
    const receiverShare = first.subarray(2);
    const cpace = cpaceInitiator(sodium, password, sid);
    const keys = sessionKeys(sodium, cpace.finish(receiverShare));
    const transcript = confirmationTranscript(sid, cpace.share, receiverShare);
    rv.sendBody(concat(new Uint8Array([1]), cpace.share, sodium.crypto_generichash(32, transcript, keys.confirmSender)));
    const confirm = await rv.nextBody();
    if (confirm.length !== 32 || !sodium.memcmp(confirm, sodium.crypto_generichash(32, transcript, keys.confirmReceiver))) {
      throw new ProtocolError('wrong_code', 'the receiver typed a wrong code (or someone guessed); nothing was sent');
    }
    return { rv, keys, grant, base: relayBase(paired, base), iceServers: iceServersFor(server, rv), code, link };
  } catch (e) {
    rv.close();
    throw e;
  }
}

// The pipe's first record, when it is the receiver's "select": { pipe, kind }, else null (and the
// pipe closed). A pipe that failed to open (null) stays null.
function selected(opening, kind) {
  return opening.then(async (pipe) => {
    if (!pipe) return null;
    const m = await pipe.readRecord().catch(() => null);
    if (m && m.type === 'select') return { pipe, kind };
    pipe.close();
    return null;
  });
}

// Up to the receiver's "select": a code and a link (onCode), the PAKE, the relay pipe. Returns
// { rv, pipe, code, link }; the caller closes both. (The hostile-peer tests' sender: the relay only.)
export async function openSenderPipe({ sodium, WebSocket, server, onCode, onEvent = () => {} }) {
  const { rv, keys, grant, base, code, link } = await pakeAsSender({ sodium, WebSocket, server, onCode, onEvent });
  try {
    const pipe = await meetAtRelay({ sodium, WebSocket, base, rv, keys, grant, side: 'S' });
    onEvent({ event: 'connected', path: 'relay', transport: 'WebSocket', carrier: pipe.carrier });
    if (!(await selected(Promise.resolve(pipe), 'relay'))) throw new ProtocolError('protocol', 'the receiver did not select this path');
    return { rv, pipe, code, link };
  } catch (e) {
    rv.close();
    throw e;
  }
}

// The sender's race: the relay, and where rtc is given and the receiver answers WebRTC offers (a
// CLI names webrtc), a data channel, both at once. The receiver selects the first pipe whose
// hellos verified; a channel it selects after the relay won is where the transfer moves (see
// send). Returns { rv, pipe, upgrade, direct, code, link } (upgrade: a promise of { pipe } selected
// later, or of null; direct: the data channel's pipe, to close when it was not used).
async function raceSenderPipes({ sodium, WebSocket, rtc, server, onCode, onEvent }) {
  const { rv, keys, grant, base, iceServers, code, link } = await pakeAsSender({ sodium, WebSocket, server, onCode, onEvent });
  try {
    const { relay, direct, tried } = await startPipes({ sodium, WebSocket, rtc, rv, keys, grant, base, iceServers, side: 'S', onEvent });
    const racing = [selected(relay, 'relay')];
    if (direct) racing.push(selected(direct, 'direct'));
    const first = await firstOf(racing);
    if (!first) throw noPath(tried, 'receiver');
    onEvent(senderConnected(first.kind, first.pipe));
    let upgrade = null;
    if (first.kind === 'relay' && direct) upgrade = racing[1];
    else if (first.kind === 'direct') relay.then((pipe) => pipe && pipe.close()); // (its read for a select ends)
    return { rv, pipe: first.pipe, upgrade, direct, code, link };
  } catch (e) {
    rv.close();
    throw e;
  }
}

const senderConnected = (kind, pipe, moved = false) => (kind === 'direct'
  ? { event: 'connected', path: 'direct', transport: 'WebRTC data channel', carrier: pipe.carrier, moved }
  : { event: 'connected', path: 'relay', transport: 'WebSocket', carrier: pipe.carrier, moved });

// A file's modification time (File.lastModified, milliseconds) as the offer carries it: whole
// seconds since 1970, left out when the browser gives none that an offer may carry.
function mtimeOf(item) {
  const seconds = Math.floor(Number(item.mtime) / 1000);
  return Number.isSafeInteger(seconds) && seconds >= 0 && seconds <= 253402300799 ? { mtime: seconds } : {};
}

// The offer's entries for the chosen items, checked by the rules receivers apply (the CLI's
// sender does the same) before any code is shown: a name receivers would refuse is said here,
// not after someone typed the code. Throws ProtocolError('bad_name').
export function offerEntries(items) {
  const entries = items.map((it) => (it.dir
    ? { path: it.path, kind: 'dir' }
    : { path: it.path, kind: 'file', size: it.size, exec: false, ...mtimeOf(it) }));
  if (entries.length === 0) throw new ProtocolError('usage', 'nothing to send');
  try {
    checkEntries(entries);
  } catch (e) {
    if (!(e instanceof NameError)) throw e;
    const shown = '"' + displayName(String(e.path).slice(0, 300)) + '"';
    const why = {
      unsafe: 'has characters or parts receivers refuse (controls, text-direction marks, "..", a drive letter, a .ferry-part ending, or over 255 bytes)',
      twice: 'is chosen twice',
      both: 'is both a file and a folder',
    }[e.problem];
    throw new ProtocolError('bad_name', 'cannot send ' + shown + ': it ' + why + '; rename it or send a ZIP');
  }
  return entries;
}

// options: { sodium, WebSocket, rtc, server, items: [{ path, size, slice } | { path, dir: true }],
//            onCode({ code, link }), onEvent }
// rtc (optional): WebRTC data channels (session.js's openWebRtcPipe); without it, the relay only.
// A channel the receiver selects after the relay won takes the transfer between two chunks:
// "moved" is the relay pipe's last record (docs/protocol.md, moving to a better pipe).
// The most text one message carries (the CLI's proto::kMaxTextBytes).
const MAX_TEXT_BYTES = 1 << 20;

// text (instead of items): a text message (at most 1 MiB of UTF-8), shown by the receiver.
export async function send({ sodium, WebSocket, rtc, server, items = [], text, onCode, onEvent = () => {} }) {
  const isText = typeof text === 'string';
  if (isText && (text.length === 0 || utf8(text).length > MAX_TEXT_BYTES)) {
    throw new ProtocolError('usage', text.length === 0 ? 'nothing to send' : 'a text message is at most 1 MiB; send it as a file');
  }
  const entries = isText ? [] : offerEntries(items);
  const raced = await raceSenderPipes({ sodium, WebSocket, rtc, server, onCode, onEvent });
  const { rv, code, link } = raced;
  let { pipe } = raced;
  const left = []; // pipes moved away from: closed once the receiver confirmed
  let moveTo = null;
  if (raced.upgrade) raced.upgrade.then((r) => (moveTo = r && r.pipe));
  const moveIfSelected = async () => {
    if (!moveTo) return;
    pipe.sendRecord(new Uint8Array([MSG.moved]));
    left.push(pipe);
    pipe = moveTo;
    moveTo = null;
    onEvent(senderConnected('direct', pipe, true));
  };
  try {
    const offer = isText ? { kind: 'text', text } : { kind: 'files', entries };
    for (const part of encodeOfferParts(JSON.stringify(offer))) pipe.sendRecord(part);
    const answer = await pipe.readRecord();
    if (answer.type === 'decline') throw new ProtocolError('declined', 'the receiver declined: ' + answer.reason);
    if (answer.type === 'abort') throw new ProtocolError(answer.code, 'the receiver stopped: ' + answer.message);
    if (answer.type !== 'accept' || answer.offsets.length !== (isText ? 0 : items.length)) {
      throw new ProtocolError('protocol', 'the receiver answered the offer out of order');
    }
    if (raced.upgrade && !moveTo) await holdForDirect(raced.upgrade); // (a receiver that holds its select did)
    const total = isText ? 0 : items.reduce((a, it) => a + (it.dir ? 0 : it.size), 0);
    let sent = 0;
    for (let i = 0; i < (isText ? 0 : items.length); i++) {
      const it = items[i];
      if (it.dir) continue;
      const start = answer.offsets[i];
      if (start > it.size) throw new ProtocolError('protocol', 'the receiver asked to resume past the end');
      const hasher = sodium.crypto_generichash_init(null, 32);
      for (let at = 0; at < it.size; at += CHUNK) {
        const bytes = new Uint8Array(await it.slice(at, Math.min(at + CHUNK, it.size)).arrayBuffer());
        sodium.crypto_generichash_update(hasher, bytes);
        if (at + bytes.length <= start) continue; // the receiver has these (a resume): hash only
        const from = Math.max(start - at, 0);
        await moveIfSelected();
        pipe.sendRecord(encodeChunk(i, at + from, bytes.subarray(from)));
        sent += bytes.length - from;
        onEvent({ event: 'progress', bytes: sent, total });
        await pipe.drain();
      }
      pipe.sendRecord(encodeFileEnd(i, sodium.crypto_generichash_final(hasher, 32)));
    }
    pipe.sendRecord(new Uint8Array([MSG.done]), true);
    const ack = await pipe.readRecord();
    if (ack.type === 'abort') throw new ProtocolError(ack.code, 'the receiver stopped: ' + ack.message);
    if (ack.type !== 'ack') throw new ProtocolError('protocol', 'the receiver did not confirm');
    onEvent({ event: 'done', bytes: sent, total });
    return { code, link };
  } finally {
    rv.close();
    pipe.close();
    for (const p of left) p.close();
    if (raced.direct) raced.direct.then((p) => p && p !== pipe && !left.includes(p) && p.close());
  }
}
