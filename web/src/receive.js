// Receiving with ferry from JavaScript (the browser page, or Node in tests): rendezvous, CPace and
// key confirmation, the encrypted mailbox, then the relay over a WebSocket (browsers cannot punch
// UDP or open TCP), the record layer and the offer/accept/chunks exchange. Bytes go to a sink the
// caller provides, file by file, so nothing needs to hold a whole file in memory.
import {
  MSG, ProtocolError, concat, confirmationTranscript, cpaceResponder, displayText, encodeAbort, encodeAccept, fromHex, otherVersion,
  parseOffer, parseSecret, sessionKeys, u32, utf8,
} from './protocol.js';
import {
  Rendezvous, firstOf, holdForDirect, iceServersFor, meetAtRelay, names, noPath, relayBase, startPipes, websocketBase,
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
// wait: the claim waits for a sender that does not hold the code yet (a comeback: the sender's
// connection may have dropped too, and its code with it until it takes the code back).
// opened(rv): told of the rendezvous connection as soon as it is open (to close it from outside).
export async function pakeAsReceiver({ sodium, WebSocket, server, code, onEvent = () => {}, wait = false, opened = () => {} }) {
  const secret = parseSecret(code);
  const base = websocketBase(server);
  const rv = await Rendezvous.open(WebSocket, base);
  opened(rv);
  try {
    await rv.welcome();
    rv.send(wait ? { type: 'claim', nameplate: secret.nameplate, wait: true } : { type: 'claim', nameplate: secret.nameplate });
    let paired = await rv.next();
    if (paired.type === 'waiting') {
      // A link sent to several people (ferry send --receivers N): its sender is checking
      // another receiver's code first, a moment. (Or, in a cluster, reconnecting.)
      // queued: false when no sender holds the code now (it waits for one to take it).
      onEvent({ event: 'queued', queued: paired.queued === true });
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
// relay pipe). Returns { rv, pipe, upgrade, note } (upgrade: a promise of the pipe to move to, or
// null; note: the sender's candidates note).
async function raceReceiverPipes({ sodium, WebSocket, fetch, rtc, server, code, onEvent, wait = false, opened }) {
  const { rv, keys, grant, base, iceServers } = await pakeAsReceiver({ sodium, WebSocket, server, code, onEvent, wait, opened });
  try {
    const { relay, direct, tried, note } = await startPipes({
      sodium, WebSocket, fetch, rtc, rv, keys, grant, base, iceServers, side: 'R', onEvent, comeback: true,
    });
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
    return { rv, pipe: first.pipe, upgrade, note };
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

// How long a page tries to get back to its sender after the transfer broke off (the sender keeps
// its code for it; its own reconnection takes a moment).
export const COMEBACK_MS = 60000;

// rtc (optional): WebRTC data channels (see openWebRtcPipe); without it, the relay only.
// A transfer that breaks off after the offer was accepted (the relay's connection, the data channel
// or the network went away) continues by itself: the page claims the code again, the sender (which
// keeps its code for a receiver that names 'comeback') offers the same thing, and the bytes go on
// from where they stopped into the same sink, for up to comebackMs.
export async function receive({ sodium, WebSocket, fetch, rtc, server, code, decide, sink, onEvent = () => {}, comebackMs = COMEBACK_MS }) {
  const race = (events, wait = false, opened = undefined) =>
    raceReceiverPipes({ sodium, WebSocket, fetch, rtc, server, code, onEvent: events, wait, opened });
  // What outlives a break: the offer as it came, and where every file stands.
  const state = {
    offerBytes: null, offer: null, accepted: false,
    received: 0, // bytes so far, every session
    current: -1, // the entry whose bytes are arriving, -1 before its first byte
    next: 0, // the first entry not yet received
    hasher: null, expected: 0, // the current entry's hash so far, and its next offset
  };
  try {
    let session = await race(onEvent);
    for (;;) {
      try {
        return await receiveOn(session, { sodium, fetch, decide, sink, onEvent, state });
      } catch (e) {
        if (!(e.code === 'peer_gone' && !e.said && state.accepted && names(session.note, 'comeback') &&
              !state.offer.entries.some((x) => x.stream))) throw e;
        session = await comeBack({ race, onEvent, comebackMs, broke: e });
      }
    }
  } catch (e) {
    if (sink && sink.abandon) sink.abandon();
    throw e;
  }
}

// How long a page that broke off waits for a sender that holds its code no more (the break took
// the sender's connection too: it takes the code back within a second or two, or is gone).
export const RETAKE_MS = 3000;

// Claims the code again after a break, trying every second until comebackMs passed; a refusal (the
// sender is gone: its code went with it) or running out of time ends it with the break itself.
// The claim waits: for the sender's turn while it holds the code, RETAKE_MS while it does not.
async function comeBack({ race, onEvent, comebackMs, broke }) {
  onEvent({ event: 'note', comeback: true, message: `The transfer broke off (${broke.message}); reconnecting to continue` });
  const deadline = Date.now() + comebackMs;
  while (Date.now() < deadline) {
    let timer = null;
    let giveUp = null;
    const late = new Promise((resolve, reject) => {
      giveUp = (ms) => {
        clearTimeout(timer);
        timer = setTimeout(() => reject(new ProtocolError('peer_gone', 'the sender did not come back in time')), ms);
      };
    });
    giveUp(deadline - Date.now());
    // Only the path events of the new session go on; 'queued' and 'peer' are the old story.
    const events = (ev) => {
      if (ev.event === 'queued' && !ev.queued) giveUp(Math.min(RETAKE_MS, deadline - Date.now()));
      return ev.event === 'queued' || ev.event === 'peer' ? undefined : onEvent(ev);
    };
    let rendezvous = null;
    const attempt = race(events, true, (rv) => (rendezvous = rv));
    try {
      const session = await Promise.race([attempt, late]);
      onEvent({ event: 'note', comeback: true, message: 'Reconnected to the sender; continuing' });
      return session;
    } catch (e) {
      if (rendezvous) rendezvous.close(); // a claim still waiting ends with it
      attempt.then((s) => { s.rv.close(); s.pipe.close(); }, () => {});
      // The server cannot be reached or the connection dropped: try again. Anything else (the
      // code is gone, a wrong code, a hostile answer) ends it.
      if (e.code !== 'server_unreachable' && e.code !== 'server_error') throw broke;
    } finally {
      clearTimeout(timer);
    }
    await new Promise((r) => setTimeout(r, 1000));
  }
  throw broke;
}

// One session: the offer (the first, or the same one again after a break), the answer, the bytes.
async function receiveOn(session, { sodium, fetch, decide, sink, onEvent, state }) {
  const { rv } = session;
  let { pipe, upgrade } = session;
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
    const offerBytes = concat(...parts);
    if (state.offerBytes) {
      // Back after a break: the same offer, already accepted; go on from where the files stand.
      if (offerBytes.length !== state.offerBytes.length || !sodium.memcmp(offerBytes, state.offerBytes)) {
        throw new ProtocolError('protocol', 'the sender offered something else after the break');
      }
      sendRecord(encodeAccept(state.offer.entries.map((e, i) =>
        (i < state.next ? e.size : i === state.current ? state.expected : 0))));
    } else {
      const offer = parseOffer(offerBytes);
      onEvent({ event: 'offer', offer });
      if (!(await decide(offer))) {
        sendRecord(concat(new Uint8Array([MSG.decline]), u32(8), utf8('declined')), true);
        return { declined: true, offer };
      }
      sendRecord(encodeAccept(offer.entries.map(() => 0)));
      Object.assign(state, { offerBytes, offer, accepted: true });
    }
    const { offer } = state;
    const total = offer.entries.reduce((a, e) => a + e.size, 0);
    const newHasher = () => (sink.hashes ? null : sodium.crypto_generichash_init(null, 32));
    // The CLI's order (proto/transfer_state): entry by entry, each file's bytes contiguous from 0,
    // never past its size, ended with its hash; "done" only when every file has ended. A sender
    // that skips a file cannot make the page say "verified".
    const skipFolders = () => {
      while (state.next < offer.entries.length && offer.entries[state.next].kind !== 'file') state.next++;
    };
    skipFolders();
    const endedAgain = new Set(); // whole files the sender ended again after a break, once each
    const start = async (file) => {
      if (file !== state.next || state.next >= offer.entries.length) throw new ProtocolError('protocol', 'the sender sent files out of order');
      state.current = file;
      state.expected = 0;
      state.hasher = newHasher();
      await sink.begin(offer.entries[file], file);
    };
    for (;;) {
      const m = await readRecord();
      if (m.type === 'chunk') {
        if (m.file !== state.current) await start(m.file);
        const entry = offer.entries[m.file];
        if (m.offset !== state.expected) throw new ProtocolError('protocol', 'the sender sent bytes out of order');
        if (!entry.stream && state.expected + m.data.length > entry.size) throw new ProtocolError('protocol', 'the sender sent more than it offered');
        const n = m.data.length;
        if (state.hasher) sodium.crypto_generichash_update(state.hasher, m.data);
        await sink.write(m.data);
        state.expected += n;
        state.received += n;
        onEvent({ event: 'progress', bytes: state.received, total });
      } else if (m.type === 'fileEnd') {
        // After a break the sender ends again the files that were whole before it: nothing to do.
        if (m.file < state.next && m.file !== state.current && !endedAgain.has(m.file)) {
          endedAgain.add(m.file);
          continue;
        }
        if (m.file !== state.current) await start(m.file); // an empty file
        const entry = offer.entries[m.file];
        if (!entry.stream && state.expected !== entry.size) throw new ProtocolError('protocol', 'a file ended early');
        const digest = state.hasher ? sodium.crypto_generichash_final(state.hasher, 32) : await sink.digest(entry, m.file);
        if (!sodium.memcmp(digest, m.hash)) {
          throw new ProtocolError('integrity', 'a file did not match its hash: ' + displayText(entry.path));
        }
        await sink.end(entry, m.file);
        state.current = -1;
        state.next++;
        skipFolders();
      } else if (m.type === 'done') {
        if (state.current !== -1 || state.next < offer.entries.length) {
          throw new ProtocolError('protocol', 'the sender ended before sending every file; what arrived is not complete');
        }
        sendRecord(new Uint8Array([MSG.ack]), true);
        // Handed to the network before "done" (the page may end this worker then): over HTTPS
        // requests, that is once the request carrying it was answered.
        await pipe.drain(0);
        onEvent({ event: 'done', bytes: state.received, total });
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
        // Said, not a break: nothing to come back for.
        throw Object.assign(new ProtocolError(m.code || 'peer_gone', 'the sender stopped: ' + displayText(m.message)), { said: true });
      } else {
        throw new ProtocolError('protocol', 'unexpected ' + m.type + ' during the transfer');
      }
    }
  } catch (e) {
    // Anything but a break is said to the sender (a bad hash, a full disk, a cancelled download),
    // so that it ends too instead of keeping its code for a comeback that will not come.
    if (e.code !== 'peer_gone' || e.said) {
      try {
        // Queued before the close that follows (which the pipe delays a moment): it goes first.
        pipe.sendRecord(encodeAbort(e.code || 'protocol', e.message), true);
      } catch {
        // the pipe is gone too: the sender learns of the end as a break
      }
    }
    throw e;
  } finally {
    rv.close();
    pipe.close();
    if (upgrade) upgrade.then((p) => p && p.close());
  }
}
