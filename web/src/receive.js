// Receiving with ferry from JavaScript (the browser page, or Node in tests): rendezvous, CPace and
// key confirmation, the encrypted mailbox, then the relay over a WebSocket (browsers cannot punch
// UDP or open TCP), the record layer and the offer/accept/chunks exchange. Bytes go to a sink the
// caller provides, file by file, so nothing needs to hold a whole file in memory.
import {
  MSG, ProtocolError, concat, confirmationTranscript, cpaceResponder, displayText, encodeAccept, fromHex, otherVersion, parseOffer,
  parseSecret, sessionKeys, u32, utf8,
} from './protocol.js';
import {
  Rendezvous, firstOf, holdForDirect, iceServersFor, meetAtRelay, noPath, relayBase, startPipes, websocketBase,
} from './session.js';

// options: { sodium, WebSocket, fetch, server, code, decide(offer) -> Promise<bool>, sink, onEvent }
// fetch (optional): the relay's bytes come as a streamed HTTP response instead of WebSocket
// messages (several times faster in browsers).
// sink: { begin(entry, index) -> Promise, write(bytes) -> Promise, end(entry, index) -> Promise,
//         abandon() }. write takes ownership of bytes (a fresh buffer per record, used by nobody
//         after the call): it may keep it or transfer it to a worker. A sink with `hashes: true`
//         computes each file's BLAKE2b-256 itself (on another thread, say) and has
//         digest(entry, index) -> Promise<Uint8Array>, asked for before end().
// The claim, the PAKE and key confirmation: { rv, keys, grant, base } (base: where the pipe's
// relay is). The caller closes rv.
export async function pakeAsReceiver({ sodium, WebSocket, server, code, onEvent = () => {} }) {
  const secret = parseSecret(code);
  const base = websocketBase(server);
  const rv = await Rendezvous.open(WebSocket, base);
  try {
    await rv.welcome();
    rv.send({ type: 'claim', nameplate: secret.nameplate });
    let paired = await rv.next();
    if (paired.type === 'waiting') {
      // A link sent to several people (ferry send --receivers N): its sender is checking
      // another receiver's code first, a moment. (Or, in a cluster, reconnecting.)
      onEvent({ event: 'queued' });
      paired = await rv.next();
    }
    if (paired.type !== 'paired') throw new ProtocolError('server_error', 'the server answered out of order');
    const sid = fromHex(paired.session);
    const grant = paired.relay_grant ? fromHex(paired.relay_grant) : null;
    onEvent({ event: 'peer' });

    // CPace: we speak first; the sender answers with its share and confirmation.
    const cpace = cpaceResponder(sodium, secret.password, sid);
    rv.sendBody(concat(new Uint8Array([1, secret.kind]), cpace.share));
    const reply = await rv.nextBody();
    const other = otherVersion(reply);
    if (other) throw other;
    if (reply.length !== 65 || reply[0] !== 1) throw new ProtocolError('protocol', "the sender's PAKE message is malformed");
    const senderShare = reply.subarray(1, 33);
    const keys = sessionKeys(sodium, cpace.finish(senderShare));
    const transcript = confirmationTranscript(sid, senderShare, cpace.share);
    rv.sendBody(sodium.crypto_generichash(32, transcript, keys.confirmReceiver));
    if (!sodium.memcmp(reply.subarray(33), sodium.crypto_generichash(32, transcript, keys.confirmSender))) {
      throw new ProtocolError('wrong_code', 'the code did not match: a typo, or someone guessed; nothing was sent');
    }
    return { rv, keys, grant, base: relayBase(paired, base), iceServers: iceServersFor(server, rv) };
  } catch (e) {
    rv.close();
    throw e;
  }
}

// Up to this side's "select": the claim, the PAKE, the relay pipe. Returns { rv, pipe }; the
// caller closes both. (The hostile-peer tests' receiver: the relay only.)
export async function openReceiverPipe({ sodium, WebSocket, fetch, server, code, onEvent = () => {} }) {
  const { rv, keys, grant, base } = await pakeAsReceiver({ sodium, WebSocket, server, code, onEvent });
  try {
    const pipe = await meetAtRelay({ sodium, WebSocket, fetch, base, rv, keys, grant, side: 'R' });
    onEvent({ event: 'connected', path: 'relay', transport: fetch ? 'HTTP download' : 'WebSocket', carrier: pipe.carrier });
    pipe.sendRecord(new Uint8Array([MSG.select]));
    return { rv, pipe };
  } catch (e) {
    rv.close();
    throw e;
  }
}

// The receiver's race: the relay, and where rtc is given and the sender can answer, a WebRTC data
// channel, both at once. The first pipe whose hellos verify is selected; a data channel that opens
// after the relay won is selected too, and the sender moves the transfer to it ("moved" on the
// relay pipe). Returns { rv, pipe, upgrade } (upgrade: a promise of the pipe to move to, or null).
async function raceReceiverPipes({ sodium, WebSocket, fetch, rtc, server, code, onEvent }) {
  const { rv, keys, grant, base, iceServers } = await pakeAsReceiver({ sodium, WebSocket, server, code, onEvent });
  try {
    const { relay, direct, tried } = await startPipes({ sodium, WebSocket, fetch, rtc, rv, keys, grant, base, iceServers, side: 'R', onEvent });
    const tagged = (p, kind) => p.then((pipe) => (pipe ? { pipe, kind } : null));
    const racing = [tagged(relay, 'relay')];
    if (direct) racing.push(tagged(direct, 'direct'));
    let first = await firstOf(racing); // a failure is null
    if (!first) throw noPath(tried, 'sender');
    if (first.kind === 'relay' && direct) first = (await holdForDirect(racing[1])) || first;
    first.pipe.sendRecord(new Uint8Array([MSG.select]));
    onEvent(connectedEvent(first.kind, first.pipe, fetch));
    let upgrade = null;
    if (first.kind === 'relay' && direct) {
      upgrade = direct.then((pipe) => {
        if (pipe) {
          pipe.sendRecord(new Uint8Array([MSG.select])); // the sender moves when it sees it
          onEvent({ event: 'direct-open', transport: 'WebRTC data channel' });
        }
        return pipe;
      });
    } else if (first.kind === 'direct') {
      relay.then((pipe) => pipe && pipe.close());
    }
    return { rv, pipe: first.pipe, upgrade };
  } catch (e) {
    rv.close();
    throw e;
  }
}

function connectedEvent(kind, pipe, fetch, moved = false) {
  return kind === 'direct'
    ? { event: 'connected', path: 'direct', transport: 'WebRTC data channel', carrier: pipe.carrier, moved }
    : { event: 'connected', path: 'relay', transport: fetch ? 'HTTP download' : 'WebSocket', carrier: pipe.carrier, moved };
}

// rtc (optional): WebRTC data channels (see openWebRtcPipe); without it, the relay only.
export async function receive({ sodium, WebSocket, fetch, rtc, server, code, decide, sink, onEvent = () => {} }) {
  const raced = await raceReceiverPipes({ sodium, WebSocket, fetch, rtc, server, code, onEvent });
  const { rv } = raced;
  let { pipe } = raced;
  let upgrade = raced.upgrade;
  const sendRecord = (...args) => pipe.sendRecord(...args);
  const readRecord = () => pipe.readRecord();
  try {
    const parts = [];
    for (;;) {
      const m = await readRecord();
      if (m.type !== 'offerPart') throw new ProtocolError('protocol', 'the sender did not start with an offer');
      parts.push(m.json.slice());
      if (m.last) break;
    }
    const offer = parseOffer(concat(...parts));
    onEvent({ event: 'offer', offer });
    if (!(await decide(offer))) {
      sendRecord(concat(new Uint8Array([MSG.decline]), u32(8), utf8('declined')), true);
      return { declined: true, offer };
    }
    sendRecord(encodeAccept(offer.entries.map(() => 0)));

    const total = offer.entries.reduce((a, e) => a + e.size, 0);
    const newHasher = () => (sink.hashes ? null : sodium.crypto_generichash_init(null, 32));
    // The CLI's order (proto/transfer_state): entry by entry, each file's bytes contiguous from 0,
    // never past its size, ended with its hash; "done" only when every file has ended. A sender
    // that skips a file cannot make the page say "verified".
    let received = 0;
    let current = -1; // the entry whose bytes are arriving, -1 before its first byte
    let next = 0; // the first entry not yet received
    const skipFolders = () => {
      while (next < offer.entries.length && offer.entries[next].kind !== 'file') next++;
    };
    skipFolders();
    let hasher = null;
    let expected = 0;
    const start = async (file) => {
      if (file !== next || next >= offer.entries.length) throw new ProtocolError('protocol', 'the sender sent files out of order');
      current = file;
      expected = 0;
      hasher = newHasher();
      await sink.begin(offer.entries[file], file);
    };
    for (;;) {
      const m = await readRecord();
      if (m.type === 'chunk') {
        if (m.file !== current) await start(m.file);
        const entry = offer.entries[m.file];
        if (m.offset !== expected) throw new ProtocolError('protocol', 'the sender sent bytes out of order');
        if (!entry.stream && expected + m.data.length > entry.size) throw new ProtocolError('protocol', 'the sender sent more than it offered');
        const n = m.data.length;
        if (hasher) sodium.crypto_generichash_update(hasher, m.data);
        await sink.write(m.data);
        expected += n;
        received += n;
        onEvent({ event: 'progress', bytes: received, total });
      } else if (m.type === 'fileEnd') {
        if (m.file !== current) await start(m.file); // an empty file
        const entry = offer.entries[m.file];
        if (!entry.stream && expected !== entry.size) throw new ProtocolError('protocol', 'a file ended early');
        const digest = hasher ? sodium.crypto_generichash_final(hasher, 32) : await sink.digest(entry, m.file);
        if (!sodium.memcmp(digest, m.hash)) {
          throw new ProtocolError('integrity', 'a file did not match its hash: ' + displayText(entry.path));
        }
        await sink.end(entry, m.file);
        current = -1;
        next++;
        skipFolders();
      } else if (m.type === 'done') {
        if (current !== -1 || next < offer.entries.length) {
          throw new ProtocolError('protocol', 'the sender ended before sending every file; what arrived is not complete');
        }
        sendRecord(new Uint8Array([MSG.ack]), true);
        // Handed to the network before "done" (the page may end this worker then): over HTTPS
        // requests, that is once the request carrying it was answered.
        await pipe.drain(0);
        onEvent({ event: 'done', bytes: received, total });
        return { declined: false, offer };
      } else if (m.type === 'moved') {
        // The relay pipe's last record: the rest comes on the data channel this side selected.
        const next = upgrade ? await upgrade : null;
        if (!next) throw new ProtocolError('protocol', 'the sender moved to a path this side never chose');
        upgrade = null;
        pipe.close();
        pipe = next;
        onEvent(connectedEvent('direct', pipe, fetch, true));
      } else if (m.type === 'abort') {
        throw new ProtocolError(m.code || 'peer_gone', 'the sender stopped: ' + displayText(m.message));
      } else {
        throw new ProtocolError('protocol', 'unexpected ' + m.type + ' during the transfer');
      }
    }
  } catch (e) {
    if (sink && sink.abandon) sink.abandon();
    throw e;
  } finally {
    rv.close();
    pipe.close();
    if (upgrade) upgrade.then((p) => p && p.close());
  }
}
