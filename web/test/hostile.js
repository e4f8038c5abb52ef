// A scriptable malicious peer speaking ferry's real protocol (the project's own JavaScript core up
// to the pipe, then whatever records a script writes): what the hostile-peer tests aim at the
// real CLI and at the page's receive code.
import net from 'node:net';
import WebSocket from 'ws';

import {
  MSG, RECORD_HEADER_BYTES, concat, encodeAbort, encodeChunk, encodeFileEnd, encodeHello, encodeOfferParts, helloBinding, u32, utf8,
} from '../src/protocol.js';
import { openReceiverPipe } from '../src/receive.js';
import { openSenderPipe } from '../src/send.js';

// Records a hostile sender writes; each returns the bytes of one record.
export const records = {
  offer: (json) => encodeOfferParts(typeof json === 'string' ? json : JSON.stringify(json)),
  chunk: (file, offset, bytes) => encodeChunk(file, offset, bytes),
  fileEnd: (sodium, file, bytes) => encodeFileEnd(file, sodium.crypto_generichash(32, bytes)),
  wrongEnd: (file) => encodeFileEnd(file, new Uint8Array(32).fill(7)),
  abort: (code, message) => encodeAbort(code, message),
  done: () => new Uint8Array([MSG.done]),
  decline: (reason) => concat(new Uint8Array([MSG.decline]), u32(utf8(reason).length), utf8(reason)),
};

// A sender that, once selected, runs script({ pipe, sodium }) with the real pipe; onCode gets the
// code to start the victim with. Resolves with what the script returned, or the error.
export async function hostileSender({ sodium, server, onCode, script }) {
  const { rv, pipe } = await openSenderPipe({ sodium, WebSocket, server, onCode });
  try {
    return await script({ pipe, sodium });
  } finally {
    rv.close();
    pipe.close();
  }
}

// A receiver with the code that, once it selected the pipe, runs script({ pipe, sodium }).
export async function hostileReceiver({ sodium, server, code, script }) {
  const { rv, pipe } = await openReceiverPipe({ sodium, WebSocket, server, code });
  try {
    return await script({ pipe, sodium });
  } finally {
    rv.close();
    pipe.close();
  }
}

// The offer's parts as records (an offer may span several).
export function sendOffer(pipe, json) {
  for (const part of records.offer(json)) pipe.sendRecord(part);
}

// A WebSocket that keeps a copy of every message it sends: what a relay (or anyone on its path)
// sees of this side's pipe.
export class RecordingWebSocket extends WebSocket {
  static all = [];
  constructor(...args) {
    super(...args);
    this.sent = [];
    RecordingWebSocket.all.push(this);
  }
  send(data, ...rest) {
    this.sent.push(Buffer.from(data));
    return super.send(data, ...rest);
  }
}

// Connects to 127.0.0.1:port, lets speak(socket, received) talk, and reports after ms whether the
// other end closed the connection: { closed, received }.
export function tcpProbe(port, speak, ms) {
  return new Promise((resolve) => {
    const socket = net.connect(port, '127.0.0.1');
    const received = [];
    let done = false;
    const finish = (closed) => {
      if (done) return;
      done = true;
      socket.destroy();
      resolve({ closed, received: Buffer.concat(received) });
    };
    socket.on('connect', () => speak(socket, received));
    socket.on('data', (d) => received.push(d));
    socket.on('close', () => finish(true));
    socket.on('error', () => finish(true));
    setTimeout(() => finish(false), ms);
  });
}

// A receiver's correctly bound hello on a direct TCP connection to the sender (what the real
// receiver would say there): our stream header, then, once the sender's header is in, the hello.
export function boundReceiverHello(sodium, keys) {
  return (socket, received) => {
    const push = sodium.crypto_secretstream_xchacha20poly1305_init_push(keys.streamReceiver);
    socket.write(push.header);
    const poll = setInterval(() => {
      const got = Buffer.concat(received);
      if (got.length < RECORD_HEADER_BYTES) return;
      clearInterval(poll);
      const senderHeader = got.subarray(0, RECORD_HEADER_BYTES);
      const hello = encodeHello(1, helloBinding(sodium, keys.hello, 1, senderHeader, push.header));
      const c = sodium.crypto_secretstream_xchacha20poly1305_push(
        push.state, hello, null, sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE);
      socket.write(concat(u32(c.length), c));
    }, 10);
    socket.on('close', () => clearInterval(poll));
  };
}
