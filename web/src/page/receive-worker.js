// The receive page's protocol work, off the page's thread: rendezvous, CPace, the relay and the
// record layer's decryption run in this dedicated worker. The page (receive-bridge.js) hashes and
// saves the bytes it hands over (transferred, not copied), so the two threads share the work.
//
// To the page: { type: 'offer', offer } | { type: 'call', id, op: 'begin'|'digest'|'end', entry,
// index } | { type: 'write', buffer, offset, length } | { type: 'abandon' } | { type: 'event',
// event } | { type: 'result', declined, offer } | { type: 'error', code, message }.
// Both ways: { type: 'rtc', … } (rtc.js: the page's data channel).
// From the page: { type: 'start', server, code, webrtc } | { type: 'decision', accept } | { type: 'reply',
// id, value, error } | { type: 'written', error }.
import sodium from '/app/sodium.js';
import { ProtocolError } from '../protocol.js';
import { receive } from '../receive.js';
import { Socket } from '../session.js';
import { tunnelWebSocket } from '../tunnel_socket.js';
import { workerRtc } from '../rtc.js';

// Where a proxy removes the WebSocket upgrade, the same WebSockets ride HTTPS requests.
Socket.overHttps = tunnelWebSocket((url, init) => fetch(url, init));

// WebRTC lives on the page (a worker has no RTCPeerConnection): the page makes the data channel and
// hands its bytes over (rtc.js).
const { rtc, handle: handleRtc } = workerRtc((m, transfer) => postMessage(m, transfer));

const WINDOW = 8; // records on their way to the page at once: bounded memory, both threads busy

let credits = WINDOW;
let creditWaiter = null;
let writeError = null;
let answer = null;
let lastProgress = -Infinity;
const calls = new Map();
let nextId = 1;

const asError = (e) => new ProtocolError(e.code || 'io_error', e.message);

function call(op, entry, index) {
  return new Promise((resolve, reject) => {
    const id = nextId++;
    calls.set(id, { resolve, reject });
    postMessage({ type: 'call', id, op, entry, index });
  });
}

async function write(bytes) {
  while (credits === 0 && !writeError) await new Promise((r) => (creditWaiter = r));
  if (writeError) throw asError(writeError);
  credits--;
  postMessage({ type: 'write', buffer: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength }, [bytes.buffer]);
}

async function run({ server, code, webrtc }) {
  try {
    await sodium.ready;
    const result = await receive({
      sodium,
      WebSocket,
      fetch: (...args) => fetch(...args),
      rtc: webrtc ? rtc : undefined,
      server,
      code,
      decide: (offer) => {
        postMessage({ type: 'offer', offer });
        return new Promise((resolve) => (answer = resolve));
      },
      sink: {
        hashes: true,
        begin: (entry, index) => call('begin', entry, index),
        write,
        digest: (entry, index) => call('digest', entry, index),
        end: (entry, index) => call('end', entry, index),
        abandon: () => postMessage({ type: 'abandon' }),
      },
      onEvent: (event) => {
        // Progress goes to the page at most 20 times a second (it redraws 10 times): a message
        // per record is work for both threads.
        if (event.event === 'progress' && event.bytes < event.total) {
          const now = performance.now();
          if (now - lastProgress < 50) return;
          lastProgress = now;
        }
        postMessage({ type: 'event', event });
      },
    });
    postMessage({ type: 'result', declined: result.declined, offer: result.offer });
  } catch (e) {
    postMessage({ type: 'error', code: e.code || 'server_error', message: e.message });
  }
}

self.onmessage = ({ data }) => {
  if (handleRtc(data)) return;
  if (data.type === 'start') {
    run(data);
  } else if (data.type === 'decision') {
    if (answer) answer(data.accept);
  } else if (data.type === 'reply') {
    const c = calls.get(data.id);
    calls.delete(data.id);
    if (data.error) c.reject(asError(data.error));
    else c.resolve(data.value);
  } else if (data.type === 'written') {
    if (data.error) writeError = data.error;
    credits++;
    if (creditWaiter) {
      const w = creditWaiter;
      creditWaiter = null;
      w();
    }
  }
};
