// A hostile receiver for the network lab (tests/lab/hostile_candidates.py): it pairs with a real
// sender using the page's own protocol code, but its candidates note names whatever the test
// says (other people's addresses, a destination-dependent UDP mapping to draw the birthday
// method's 20,000 probes). It holds the relay pipe unselected for HOLD_MS so the sender's direct
// attempts run their whole course, then selects the relay and reads the offer.
//   node web/lab/hostile_receiver.js SERVER CODE NOTE_JSON HOLD_MS
// Prints one JSON line per step: {"event":"paired"}, {"event":"offer"} or {"event":"error",...}.
import WebSocket from 'ws';

import { MSG } from '../src/protocol.js';
import { pakeAsReceiver } from '../src/receive.js';
import { meetAtRelay } from '../src/session.js';

const [server, code, noteJson, holdMs] = process.argv.slice(2);
const say = (event) => console.log(JSON.stringify(event));
const { default: sodium } = await import('libsodium-wrappers-sumo');
await sodium.ready;
try {
  const { rv, keys, grant, base } = await pakeAsReceiver({ sodium, WebSocket, server, code });
  try {
    const myNote = { ...JSON.parse(noteJson), relay: grant !== null };
    const pipe = await meetAtRelay({ sodium, WebSocket, base, rv, keys, grant, side: 'R', myNote });
    say({ event: 'paired' });
    await new Promise((r) => setTimeout(r, Number(holdMs)));
    pipe.sendRecord(new Uint8Array([MSG.select]));
    say({ event: 'offer', type: (await pipe.readRecord()).type });
    pipe.close();
  } finally {
    rv.close();
  }
} catch (e) {
  say({ event: 'error', code: e.code, message: String(e.message) });
}
setTimeout(() => process.exit(0), 600);
