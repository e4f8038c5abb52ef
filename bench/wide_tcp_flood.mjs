// A made-up wide TCP group at a sender's direct port (issue 37, row 4), replayed against the real
// CLI: a receiver that agreed on wide TCP (the page's protocol code, named in its note) opens a
// two-member group with its own token and sends one-byte frames out of order, each frame never
// the one the stream waits for. Prints the sender's RSS growth over its RSS just before the flood
// (the goal: at most 64 MB; once, 2 M such frames, 26 MB on the wire, took 14 -> 228 MB), the
// frames the sender took before it stopped reading, and the seconds until it closed the members.
// Medians of BENCH_RUNS (3). Run from the repository: node bench/wide_tcp_flood.mjs
import { spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.env.FERRY_BIN ||= path.join(ROOT, 'build', 'release', 'src', 'cli', 'ferry');
const { default: WebSocket } = await import(path.join(ROOT, 'web', 'node_modules', 'ws', 'index.js'));
const { startFixture, FERRY } = await import(path.join(ROOT, 'web', 'test', 'helpers.js'));
const { pakeAsReceiver } = await import(path.join(ROOT, 'web', 'src', 'receive.js'));
const { meetAtRelay } = await import(path.join(ROOT, 'web', 'src', 'session.js'));

const RUNS = Number(process.env.BENCH_RUNS || 3);
const FRAMES = Number(process.env.BENCH_FRAMES || 2_000_000);
const GOAL_MB = 64;

const rssMb = (pid) => {
  const m = /VmRSS:\s+(\d+)/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
  return Number(m[1]) / 1024;
};
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

async function once(sodium, serverUrl) {
  const src = path.join(os.tmpdir(), 'ferry-wide-flood.txt');
  fs.writeFileSync(src, 'hello');
  const sender = spawn(FERRY, ['send', '--server', serverUrl, src], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  sender.stdout.on('data', (d) => (out += d));
  let code = null;
  for (let i = 0; i < 200 && !code; i++) {
    await new Promise((r) => setTimeout(r, 25));
    code = /ferry receive (?:--server \S+ )?(\S+)/.exec(out)?.[1];
  }
  const { rv, keys, grant, base } = await pakeAsReceiver({ sodium, WebSocket, server: serverUrl, code });
  const myNote = { type: 'candidates', candidates: [], relay: true, features: ['wide-tcp'] };
  const pipe = await meetAtRelay({ sodium, WebSocket, base, rv, keys, grant, side: 'R', myNote });
  const direct = pipe.peerNote.candidates.find((c) => c.transport === 'tcp');
  await new Promise((r) => setTimeout(r, 300));
  const before = rssMb(sender.pid);
  const token = randomBytes(16);
  const started = Date.now();
  let written = 0;
  let closedAfter = null;
  const members = [0, 1].map((index) => new Promise((resolve) => {
    const s = net.connect(direct.port, '127.0.0.1', () => {
      s.write(Buffer.concat([Buffer.from('ferryW'), token, Buffer.from([index, 2])]));
      if (index !== 0) return;
      // Frames of one byte at offsets 1, 3, 5...: the byte at 0 never comes.
      const frame = Buffer.alloc(13);
      let i = 0;
      const pump = () => {
        while (i < FRAMES) {
          frame.writeBigUInt64BE(BigInt(1 + 2 * i), 0);
          frame.writeUInt32BE(1, 8);
          frame[12] = i & 0xff;
          i++;
          written++;
          if (!s.write(frame)) return s.once('drain', pump);
        }
      };
      pump();
    });
    s.on('error', () => {});
    s.on('close', () => {
      closedAfter ??= (Date.now() - started) / 1000;
      resolve();
    });
  }));
  let peak = before;
  const watch = setInterval(() => (peak = Math.max(peak, rssMb(sender.pid))), 100);
  await Promise.race([Promise.all(members), new Promise((r) => setTimeout(r, 30000))]);
  clearInterval(watch);
  rv.close();
  sender.kill();
  return { grown: peak - before, written, closedAfter };
}

const { sodium, url, stop } = await startFixture('ferry-wide-flood-');
try {
  const runs = [];
  for (let i = 0; i < RUNS; i++) runs.push(await once(sodium, url));
  const grown = median(runs.map((r) => r.grown));
  console.log('made-up wide TCP group, one-byte frames out of order (median of %d)', RUNS);
  console.log('sender RSS over its pre-flood RSS: %s MB (goal %d MB, ratio %s)', grown.toFixed(1), GOAL_MB,
    (grown / GOAL_MB).toFixed(2));
  console.log('frames written before the sender stopped reading: %d of %d; members closed after %s s',
    median(runs.map((r) => r.written)), FRAMES, median(runs.map((r) => r.closedAfter ?? Infinity)).toFixed(1));
} finally {
  stop();
}
