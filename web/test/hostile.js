// A scriptable malicious peer speaking ferry's real protocol (the project's own JavaScript core up
// to the pipe, then whatever records a script writes): what the hostile-peer tests aim at the
// real CLI and at the page's receive code.
import WebSocket from 'ws';

import { MSG, concat, encodeAbort, encodeChunk, encodeFileEnd, encodeOfferParts, u32, utf8 } from '../src/protocol.js';
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
