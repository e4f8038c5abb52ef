// receive() with its protocol work in a dedicated worker (receive-worker.js) and the hashing and
// saving on this thread: the same options and result as receive.js's receive(), so the page does
// not care where the work runs. Two threads share what one did: the worker reads the relay and
// decrypts, this thread hashes (BLAKE2b-256, as the sender did) and hands the bytes to the sink.
import { ProtocolError } from '../protocol.js';
import { browserRtc, rtcHost } from '../rtc.js';

// crypto_generichash_update(state, bytes) through one buffer in libsodium's memory, reused for
// every chunk (the wrapper allocates, copies and frees one per call); the wrapper where the raw
// functions are not there.
function rawHashUpdate(sodium) {
  const lib = sodium.libsodium;
  if (!lib || typeof lib._malloc !== 'function' || typeof lib._crypto_generichash_update !== 'function') {
    return (state, bytes) => sodium.crypto_generichash_update(state, bytes);
  }
  let at = 0;
  let size = 0;
  return (state, bytes) => {
    if (bytes.length > size) {
      if (at) lib._free(at);
      size = Math.max(bytes.length, 1 << 20);
      at = lib._malloc(size);
    }
    lib.HEAPU8.set(bytes, at);
    lib._crypto_generichash_update(state, at, bytes.length, 0);
  };
}

// options: { sodium, server, code, decide(offer) -> Promise<bool>, sink, onEvent } (receive.js).
export function receiveInWorker({ sodium, server, code, decide, sink, onEvent = () => {} }) {
  return new Promise((resolve, reject) => {
    const worker = new Worker('/app/receive-worker.js', { type: 'module' });
    let hasher = null;
    const hashUpdate = rawHashUpdate(sodium);
    let queue = Promise.resolve(); // the sink's work, strictly in the worker's order
    // (A DOMException's code is a number: ours are words.)
    const wire = (e) => ({ code: typeof e.code === 'string' ? e.code : 'io_error', message: e.message || String(e) });
    const finish = (settle, value) => {
      worker.terminate();
      settle(value);
    };
    const inOrder = (work) => {
      queue = queue.then(work);
    };
    worker.onerror = (e) => {
      e.preventDefault();
      finish(reject, new ProtocolError('browser', 'the receive worker did not start: ' + (e.message || 'this browser is too old')));
    };
    // The data channel is made here, for the worker (rtc.js), where this browser has WebRTC.
    const webrtc = typeof RTCPeerConnection === 'function';
    const rtc = webrtc ? rtcHost(browserRtc(RTCPeerConnection), (m, transfer) => worker.postMessage(m, transfer)) : () => false;
    worker.onmessage = ({ data }) => {
      if (rtc(data)) return;
      switch (data.type) {
        case 'offer':
          decide(data.offer).then((accept) => worker.postMessage({ type: 'decision', accept }));
          break;
        case 'call':
          inOrder(async () => {
            try {
              let value;
              if (data.op === 'begin') {
                hasher = sodium.crypto_generichash_init(null, 32);
                await sink.begin(data.entry, data.index);
              } else if (data.op === 'digest') {
                value = sodium.crypto_generichash_final(hasher, 32);
              } else {
                await sink.end(data.entry, data.index);
              }
              worker.postMessage({ type: 'reply', id: data.id, value });
            } catch (e) {
              worker.postMessage({ type: 'reply', id: data.id, error: wire(e) });
            }
          });
          break;
        case 'write':
          inOrder(async () => {
            const bytes = new Uint8Array(data.buffer, data.offset, data.length);
            try {
              hashUpdate(hasher, bytes);
              await sink.write(bytes);
              worker.postMessage({ type: 'written' });
            } catch (e) {
              worker.postMessage({ type: 'written', error: wire(e) });
            }
          });
          break;
        case 'abandon':
          inOrder(() => sink.abandon && sink.abandon());
          break;
        case 'event':
          onEvent(data.event);
          break;
        case 'result':
          inOrder(() => finish(resolve, { declined: data.declined, offer: data.offer }));
          break;
        case 'error':
          inOrder(() => finish(reject, new ProtocolError(data.code, data.message)));
          break;
        default:
          break;
      }
    };
    worker.postMessage({ type: 'start', server, code, webrtc });
  });
}
