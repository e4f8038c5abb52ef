// Receiving with ferry from JavaScript (the browser page, or Node in tests): rendezvous, CPace and
// key confirmation, the encrypted mailbox, then the relay over a WebSocket (browsers cannot punch
// UDP or open TCP), the record layer and the offer/accept/chunks exchange. Bytes go to a sink the
// caller provides, file by file, so nothing needs to hold a whole file in memory.
import {
  MSG, MailboxBox, ProtocolError, RECORD_HEADER_BYTES, MAX_RECORD, RELAY_STATUS, concat, confirmationTranscript,
  cpaceResponder, decodePipeMessage, encodeAccept, fromBase64, fromHex, fromUtf8, parseOffer,
  parseSecret, readU32, relayHello, sessionKeys, toBase64, u32, utf8,
} from './protocol.js';

// A WebSocket whose messages are awaited in order.
class Socket {
  static open(WebSocketImpl, url, timeoutMs = 10000) {
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
    ws.onmessage = (e) => this.push({ data: e.data });
    ws.onclose = (e) => {
      this.closed = { code: e.code, reason: e.reason };
      this.push(null);
    };
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

// Bytes from a relay WebSocket as a stream: exact reads across message boundaries. A close frame
// with 4000 + status carries the relay's reason.
class RelayStream {
  constructor(socket) {
    this.socket = socket;
    this.buf = new Uint8Array(0);
  }
  async read(n) {
    while (this.buf.length < n) {
      const m = await this.socket.next();
      if (m === null) {
        const c = this.socket.closed || {};
        if (c.code >= 4000 && c.code < 4256) {
          throw new ProtocolError(c.code === 4000 + RELAY_STATUS.limit ? 'relay_limit' : 'relay_refused',
            'the relay ended the transfer: ' + c.reason);
        }
        throw new ProtocolError('peer_gone', 'the connection through the relay closed unexpectedly');
      }
      if (typeof m === 'string') throw new ProtocolError('protocol', 'the relay sent text');
      this.buf = this.buf.length ? concat(this.buf, m) : m;
    }
    const out = this.buf.subarray(0, n);
    this.buf = this.buf.subarray(n);
    return out;
  }
}

function websocketBase(server) {
  const u = new URL(server);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') {
    throw new ProtocolError('usage', 'the server URL must start with http:// or https://');
  }
  return (u.protocol === 'https:' ? 'wss://' : 'ws://') + u.host + u.pathname.replace(/\/$/, '');
}

const SERVER_ERRORS = { code_unknown: 'code_unknown', code_taken: 'code_taken' };

// options: { sodium, WebSocket, server, code, decide(offer) -> Promise<bool>, sink, onEvent }
// sink: { begin(entry, index) -> Promise, write(bytes) -> Promise, end(entry, index) -> Promise,
//         abandon() }.
export async function receive({ sodium, WebSocket, server, code, decide, sink, onEvent = () => {} }) {
  const secret = parseSecret(code);
  const base = websocketBase(server);
  const rv = await Socket.open(WebSocket, base + '/v1/rendezvous');
  let relay = null;
  const nextJson = async () => {
    const text = await rv.next();
    if (text === null) throw new ProtocolError('server_error', 'the server closed the connection');
    const m = JSON.parse(text);
    if (m.type === 'error') throw new ProtocolError(SERVER_ERRORS[m.code] || 'server_error', m.message);
    if (m.type === 'peer_left') throw new ProtocolError('peer_gone', 'the sender went away');
    return m;
  };
  const nextBody = async () => {
    const m = await nextJson();
    if (m.type !== 'message') throw new ProtocolError('server_error', 'the server answered out of order');
    return fromBase64(m.body);
  };
  const sendBody = (b) => rv.send(JSON.stringify({ type: 'message', body: toBase64(b) }));
  try {
    const welcome = await nextJson();
    if (welcome.type !== 'welcome' || welcome.version !== 1) {
      throw new ProtocolError('server_error', 'the server speaks another version of the ferry protocol');
    }
    rv.send(JSON.stringify({ type: 'claim', nameplate: secret.nameplate }));
    const paired = await nextJson();
    if (paired.type !== 'paired') throw new ProtocolError('server_error', 'the server answered out of order');
    const sid = fromHex(paired.session);
    const grant = paired.relay_grant ? fromHex(paired.relay_grant) : null;
    onEvent({ event: 'peer' });

    // CPace: we speak first; the sender answers with its share and confirmation.
    const cpace = cpaceResponder(sodium, secret.password, sid);
    sendBody(concat(new Uint8Array([1, secret.kind]), cpace.share));
    const reply = await nextBody();
    if (reply.length !== 65 || reply[0] !== 1) throw new ProtocolError('protocol', "the sender's PAKE message is malformed");
    const senderShare = reply.subarray(1, 33);
    const isk = cpace.finish(senderShare);
    const keys = sessionKeys(sodium, isk);
    const transcript = confirmationTranscript(sid, senderShare, cpace.share);
    sendBody(sodium.crypto_generichash(32, transcript, keys.confirmReceiver));
    if (!sodium.memcmp(reply.subarray(33), sodium.crypto_generichash(32, transcript, keys.confirmSender))) {
      throw new ProtocolError('wrong_code', 'the code did not match: a typo, or someone guessed; nothing was sent');
    }

    // Candidates: a browser has none of its own; it always meets the sender at the relay.
    const seal = new MailboxBox(sodium, keys.mailboxReceiver);
    const open = new MailboxBox(sodium, keys.mailboxSender);
    sendBody(seal.seal(utf8(JSON.stringify({ type: 'candidates', candidates: [], relay: grant !== null }))));
    const note = JSON.parse(fromUtf8(open.open(await nextBody())));
    if (note.type === 'abort') throw new ProtocolError(note.code || 'peer_gone', 'the sender gave up: ' + note.message);
    if (!grant || !note.relay) {
      throw new ProtocolError('no_path', 'the sender cannot be reached from a browser: it does not use the relay');
    }

    relay = await Socket.open(WebSocket, base + '/v1/relay');
    relay.send(relayHello(grant));
    const stream = new RelayStream(relay);
    for (;;) {
      const status = (await stream.read(1))[0];
      if (status === RELAY_STATUS.paired) break;
      if (status !== RELAY_STATUS.waiting) {
        await stream.read(1); // throws with the relay's own sentence (its close frame)
        throw new ProtocolError('relay_refused', 'the relay refused the session (status ' + status + ')');
      }
    }
    onEvent({ event: 'connected', path: 'relay', transport: 'WebSocket' });

    // Record layer: our stream header, then theirs.
    const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(keys.streamReceiver);
    relay.send(push.header);
    const pull = sodium.crypto_secretstream_xchacha20poly1305_init_pull(await stream.read(RECORD_HEADER_BYTES), keys.streamSender);
    const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE;
    const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL;
    const sendRecord = (plain, final = false) => {
      const c = sodium.crypto_secretstream_xchacha20poly1305_push(push.state, plain, null, final ? TAG_FINAL : TAG_MESSAGE);
      relay.send(concat(u32(c.length), c));
    };
    const readRecord = async () => {
      const len = readU32(await stream.read(4));
      if (len < 17 || len > MAX_RECORD) throw new ProtocolError('protocol', 'record length out of range');
      const r = sodium.crypto_secretstream_xchacha20poly1305_pull(pull, await stream.read(len));
      if (!r) throw new ProtocolError('protocol', 'record failed authentication');
      return decodePipeMessage(r.message);
    };

    sendRecord(new Uint8Array([MSG.hello, 1]));
    const hello = await readRecord();
    if (hello.type !== 'hello' || hello.side !== 0) throw new ProtocolError('protocol', 'unexpected hello');
    sendRecord(new Uint8Array([MSG.select]));

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
    let received = 0;
    let current = -1;
    let hasher = null;
    let expected = 0;
    for (;;) {
      const m = await readRecord();
      if (m.type === 'chunk') {
        const entry = offer.entries[m.file];
        if (!entry || entry.kind !== 'file' || m.file < current || m.offset !== (m.file === current ? expected : 0)) {
          throw new ProtocolError('protocol', 'the sender sent bytes out of order');
        }
        if (m.file !== current) {
          current = m.file;
          expected = 0;
          hasher = sodium.crypto_generichash_init(null, 32);
          await sink.begin(entry, m.file);
        }
        if (expected + m.data.length > entry.size) throw new ProtocolError('protocol', 'the sender sent more than it offered');
        sodium.crypto_generichash_update(hasher, m.data);
        await sink.write(m.data);
        expected += m.data.length;
        received += m.data.length;
        onEvent({ event: 'progress', bytes: received, total });
      } else if (m.type === 'fileEnd') {
        const entry = offer.entries[m.file];
        if (!entry || entry.kind !== 'file') throw new ProtocolError('protocol', 'file end for an unknown file');
        if (m.file !== current) {
          current = m.file; // an empty file
          expected = 0;
          hasher = sodium.crypto_generichash_init(null, 32);
          await sink.begin(entry, m.file);
        }
        if (expected !== entry.size) throw new ProtocolError('protocol', 'a file ended early');
        if (!sodium.memcmp(sodium.crypto_generichash_final(hasher, 32), m.hash)) {
          throw new ProtocolError('integrity', 'a file did not match its hash: ' + entry.path);
        }
        await sink.end(entry, m.file);
      } else if (m.type === 'done') {
        sendRecord(new Uint8Array([MSG.ack]), true);
        onEvent({ event: 'done', bytes: received, total });
        return { declined: false, offer };
      } else if (m.type === 'abort') {
        throw new ProtocolError(m.code || 'peer_gone', 'the sender stopped: ' + m.message);
      } else {
        throw new ProtocolError('protocol', 'unexpected ' + m.type + ' during the transfer');
      }
    }
  } catch (e) {
    if (sink && sink.abandon) sink.abandon();
    throw e;
  } finally {
    rv.close();
    if (relay) setTimeout(() => relay.close(), 500);
  }
}
