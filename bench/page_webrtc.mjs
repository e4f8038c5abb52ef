#!/usr/bin/env node
// Pages over WebRTC data channels (issue 36), on loopback with headless Chromium: the receive page
// taking BENCH_SIZE (256 MiB) from the CLI, and the send page sending it to the CLI, each over the
// data channel and, as the reference in the same run, over the relay (the page's RTCPeerConnection
// removed, as in a browser without WebRTC). Prints per direction the MB/s (the CLI's own `done`
// figure), the bytes the server relayed (its ferry_relay_bytes_total), and Chromium's CPU seconds
// per GB (all its processes) beside the CLI peer's; the data channel's rate as a ratio to the
// relay's (goal >= 2 receiving), and the page's CPU per GB as a ratio to the CLI receiver's when
// the CLI receives the same file from the CLI (goal <= 2). Medians of BENCH_RUNS (3). Run from the
// repository root after scripts/setup.sh.
import { spawn, execSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromiumProcesses, cpuOf } from './benchlib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
process.env.FERRY_BIN ||= path.join(ROOT, 'build', 'release', 'src', 'cli', 'ferry');
const { FERRY, downloadPage, exited, launchChromium, lines, startServer } = await import(path.join(ROOT, 'web', 'test', 'helpers.js'));
const CHROMIUM = process.env.CHROMIUM || '/usr/bin/chromium';
const RUNS = Number(process.env.BENCH_RUNS || 3);
const SIZE = Number(process.env.BENCH_SIZE || 256 * 2 ** 20);
const tmp = fs.mkdtempSync(path.join(process.env.BENCH_TMP || os.tmpdir(), 'ferry-bench-webrtc-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// CPU seconds so far of every process of the Chromium that playwright launched (children's time
// of processes that ended is in their parents' cutime, not counted: the renderers live throughout).
const chromiumCpu = () => chromiumProcesses().reduce((sum, { pid }) => sum + cpuOf(pid), 0);
// `ferry ARGS` under /usr/bin/time: its --json events (next()) and, once exited, cpu().
let timed = 0;
function ferry(args) {
  const file = path.join(tmp, `time-${timed++}.txt`);
  const proc = spawn('/usr/bin/time', ['-f', '%U %S', '-o', file, FERRY, ...args], { stdio: ['ignore', 'pipe', 'inherit'] });
  proc.next = lines(proc);
  proc.cpu = () => fs.readFileSync(file, 'utf8').trim().split(/\s+/).slice(-2).reduce((a, x) => a + Number(x), 0);
  return proc;
}
async function until(proc, event) {
  for (;;) {
    const line = await proc.next();
    if (line === undefined) throw new Error('ferry ended before ' + event);
    const e = JSON.parse(line);
    if (e.event === event) return e;
    if (e.event === 'error') throw new Error(e.message);
  }
}

const src = path.join(tmp, 'bench.bin');
execSync(`head -c ${SIZE} /dev/urandom > ${src}`);
const { proc: server, url } = await startServer();
const relayed = async () => Number(((await (await fetch(url + '/metrics')).text()).match(/^ferry_relay_bytes_total (\d+)/m) || [0, 0])[1]);
const browser = await launchChromium(CHROMIUM, ['--allow-loopback-in-peer-connection']);
const noWebRtc = () => {
  delete window.RTCPeerConnection;
};

// The CLI sends, the page receives (saves at once, as a person who knows the file would).
async function pageReceives(webrtc) {
  const page = await downloadPage(browser, webrtc ? undefined : noWebRtc);
  const sender = ferry(['send', '--json', '--server', url, src]);
  const { link } = await until(sender, 'code');
  const r0 = await relayed();
  const c0 = chromiumCpu();
  await page.goto(link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  const [download] = await Promise.all([page.waitForEvent('download', { timeout: 600000 }), page.click('#save')]);
  const saved = path.join(tmp, 'saved.bin');
  await download.saveAs(saved);
  const done = await until(sender, 'done');
  await page.waitForSelector('#done:not([hidden])', { timeout: 600000 });
  const path_ = await page.getAttribute('#path', 'data-path');
  const out = { mbs: done.bytes / done.seconds / 1e6, relayed: (await relayed()) - r0, page: (chromiumCpu() - c0) / (SIZE / 1e9), path: path_ };
  await exited(sender);
  out.peer = sender.cpu() / (SIZE / 1e9);
  fs.rmSync(saved);
  await page.context().close();
  return out;
}

// The page sends, the CLI receives.
async function pageSends(webrtc) {
  const page = await downloadPage(browser, webrtc ? undefined : noWebRtc);
  await page.goto(url + '/');
  await page.setInputFiles('#files', src);
  await page.click('#send:not([disabled])');
  await page.waitForSelector('#code-box:not([hidden])');
  const code = (await page.textContent('#command')).split(' ').pop();
  const out = path.join(tmp, 'cli-' + timed);
  fs.mkdirSync(out);
  const r0 = await relayed();
  const c0 = chromiumCpu();
  const receiver = ferry(['receive', '--yes', '--json', '--server', url, '--output', out, code]);
  const done = await until(receiver, 'done');
  await page.waitForSelector('#done:not([hidden])', { timeout: 600000 });
  const result = {
    mbs: done.bytes / done.seconds / 1e6, relayed: (await relayed()) - r0, page: (chromiumCpu() - c0) / (SIZE / 1e9),
    path: await page.getAttribute('#path', 'data-path'),
  };
  await exited(receiver);
  result.peer = receiver.cpu() / (SIZE / 1e9);
  fs.rmSync(out, { recursive: true });
  await page.context().close();
  return result;
}

// The reference for CPU per byte: the CLI receiving the same file from the CLI.
async function cliReceives() {
  const sender = ferry(['send', '--json', '--server', url, src]);
  const { code } = await until(sender, 'code');
  const out = path.join(tmp, 'cli-' + timed);
  fs.mkdirSync(out);
  const receiver = ferry(['receive', '--yes', '--json', '--server', url, '--output', out, code]);
  await until(receiver, 'done');
  await exited(receiver);
  await exited(sender);
  fs.rmSync(out, { recursive: true });
  return receiver.cpu() / (SIZE / 1e9);
}

const cases = {
  'page receives, data channel': () => pageReceives(true),
  'page receives, relay': () => pageReceives(false),
  'page sends, data channel': () => pageSends(true),
  'page sends, relay': () => pageSends(false),
};
const results = Object.fromEntries(Object.keys(cases).map((k) => [k, []]));
const cliCpu = [];
try {
  for (let run = 0; run < RUNS; run++) {
    for (const [name, f] of Object.entries(cases)) results[name].push(await f());
    cliCpu.push(await cliReceives());
  }
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}

const fig = (name) => {
  const rs = results[name];
  return {
    mbs: median(rs.map((r) => r.mbs)), relayed: median(rs.map((r) => r.relayed)),
    page: median(rs.map((r) => r.page)), peer: median(rs.map((r) => r.peer)), paths: rs.map((r) => r.path).join(','),
  };
};
console.log(`${(SIZE / 2 ** 20).toFixed(0)} MiB on loopback, medians of ${RUNS}:`);
for (const name of Object.keys(cases)) {
  const f = fig(name);
  console.log(`  ${name.padEnd(28)} ${f.mbs.toFixed(1).padStart(7)} MB/s  relayed ${String(f.relayed).padStart(10)} B  ` +
    `Chromium ${f.page.toFixed(2)} CPU-s/GB, the CLI peer ${f.peer.toFixed(2)} CPU-s/GB  (page said: ${f.paths})`);
}
const cli = median(cliCpu);
for (const dir of ['receives', 'sends']) {
  const ratio = fig(`page ${dir}, data channel`).mbs / fig(`page ${dir}, relay`).mbs;
  console.log(`page ${dir}: data channel / relay = ${ratio.toFixed(2)}${dir === 'receives' ? ' (goal >= 2)' : ''}`);
}
console.log(`the CLI receiving from the CLI: ${cli.toFixed(2)} CPU-s/GB; the receive page over the data channel / that = ` +
  `${(fig('page receives, data channel').page / cli).toFixed(2)} (goal <= 2)`);
