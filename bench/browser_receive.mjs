#!/usr/bin/env node
// Browser receive throughput and memory (issue 6). Through the relay on loopback: the CLI sends a
// file to headless Chromium's receive page (saved by the streamed download, and again through the
// File System Access API), and to the CLI receiver with --force-relay in the same run, as the
// reference: prints the browser's MB/s as a ratio to the CLI's (goal >= 0.5). Then the browser's peak memory (all Chromium processes' RSS, sampled)
// receiving BENCH_SMALL and BENCH_LARGE bytes (default 128 MiB and 1 GiB): it must not grow with
// the file. Median of BENCH_RUNS (3). Run from the repository root after scripts/setup.sh.
import { spawn, execSync } from 'node:child_process';
import { createInterface } from 'node:readline';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

import { chromiumProcesses, cpuOf } from './benchlib.mjs';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { chromium } = await import(path.join(ROOT, 'web', 'node_modules', 'playwright-core', 'index.mjs'));
const FERRY = process.env.FERRY_BIN || path.join(ROOT, 'build', 'release', 'src', 'cli', 'ferry');
const RUNS = Number(process.env.BENCH_RUNS || 3);
const SIZE = Number(process.env.BENCH_SIZE || 256 * 2 ** 20);
const SMALL = Number(process.env.BENCH_SMALL || 128 * 2 ** 20);
const LARGE = Number(process.env.BENCH_LARGE || 2 ** 30);
const tmp = fs.mkdtempSync(path.join(process.env.BENCH_TMP || os.tmpdir(), 'ferry-bench-browser-'));
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

function lines(proc) {
  const rl = createInterface({ input: proc.stdout });
  const q = [];
  const w = [];
  rl.on('line', (l) => (w.length ? w.shift()(l) : q.push(l)));
  return () => (q.length ? Promise.resolve(q.shift()) : new Promise((r) => w.push(r)));
}
const exited = (p) => (p.exitCode !== null ? Promise.resolve(p.exitCode) : new Promise((r) => p.on('exit', r)));

function makeFile(name, size) {
  const p = path.join(tmp, name);
  execSync(`head -c ${size} /dev/urandom > ${p}`);
  return p;
}

// CPU seconds (user + system): of one process so far (by pid), of all Chromium's processes so
// far, and of a finished ferry command run under /usr/bin/time. Where the machine's time goes: on
// a 2-core machine the sum over every process (sender, relay, receiver) bounds the rate
// (cpuOf, chromiumProcesses: benchlib.mjs).
// Chromium's CPU seconds by process kind (its --type: renderer, utility (the network service),
// gpu-process; "browser" for the main process, which has none).
function chromiumCpu() {
  const out = {};
  for (const { pid, cmd } of chromiumProcesses()) {
    const kind = (/--type=([a-z-]+)/.exec(cmd) || [null, 'browser'])[1];
    out[kind] = (out[kind] || 0) + cpuOf(pid);
  }
  return out;
}
const total = (o) => Object.values(o).reduce((a, x) => a + x, 0);

let timed = 0;
// spawn() of `ferry ARGS` under /usr/bin/time; cpu() reads its CPU seconds once it has exited.
function ferryTimed(args) {
  const file = path.join(tmp, `time-${timed++}.txt`);
  const proc = spawn('/usr/bin/time', ['-f', '%U %S', '-o', file, FERRY, ...args], { stdio: ['ignore', 'pipe', 'ignore'] });
  proc.cpu = () => fs.readFileSync(file, 'utf8').trim().split(/\s+/).slice(-2).reduce((a, x) => a + Number(x), 0);
  return proc;
}

function chromiumRss() {
  let total = 0;
  for (const { pid } of chromiumProcesses()) {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(fs.readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (m) total += Number(m[1]) * 1024;
    } catch { /* gone */ }
  }
  return total;
}

async function send(url, file, extra = []) {
  const proc = ferryTimed(['send', '--json', '--server', url, ...extra, file]);
  const code = JSON.parse(await lines(proc)());
  return { proc, code };
}

async function cliRelay(url, file) {
  const { proc, code } = await send(url, file, ['--force-relay']);
  const out = fs.mkdtempSync(path.join(tmp, 'cli-'));
  const relay0 = cpuOf(server.pid);
  const r = ferryTimed(['receive', '--json', '--yes', '--force-relay', '--server', url, '--output', out, code.code]);
  const next = lines(r);
  let done = null;
  for (;;) {
    const l = await next();
    const e = JSON.parse(l);
    if (e.event === 'done' || e.event === 'error') {
      done = e;
      break;
    }
  }
  await exited(r);
  await exited(proc);
  const relay = cpuOf(server.pid) - relay0;
  fs.rmSync(out, { recursive: true, force: true });
  if (done.event !== 'done') throw new Error('CLI relay transfer failed: ' + done.message);
  return { mbs: done.bytes / done.seconds / 1e6, cpu: { sender: proc.cpu(), relay, receiver: r.cpu(), seconds: done.seconds } };
}

// How the page saves: 'download' is the service-worker streamed download (browsers without the
// File System Access API: the test hides it); 'picker' is the File System Access API, its picker
// (a native dialog) handing out a file of the origin's private file system.
const HIDE_PICKERS = () => {
  delete Window.prototype.showSaveFilePicker;
  delete Window.prototype.showDirectoryPicker;
  delete window.showSaveFilePicker;
  delete window.showDirectoryPicker;
};
const PRIVATE_PICKER = () => {
  window.showSaveFilePicker = async ({ suggestedName }) =>
    (await navigator.storage.getDirectory()).getFileHandle(suggestedName, { create: true });
};

async function browserReceive(browser, url, file, how = 'download') {
  const { proc, code } = await send(url, file);
  const context = await browser.newContext({ acceptDownloads: true });
  await context.addInitScript(how === 'picker' ? PRIVATE_PICKER : HIDE_PICKERS);
  const page = await context.newPage();
  await page.goto(code.link);
  await page.click('#receive:not([disabled])');
  await page.waitForSelector('#offer:not([hidden])');
  let peak = 0;
  const sampler = setInterval(() => (peak = Math.max(peak, chromiumRss())), 100);
  const c0 = { chromium: chromiumCpu(), relay: cpuOf(server.pid) };
  const t0 = performance.now();
  let size;
  if (how === 'picker') {
    await page.click('#save');
    await page.waitForSelector('#done:not([hidden])', { timeout: 600000 });
    size = await page.evaluate(async (name) => {
      const root = await navigator.storage.getDirectory();
      const n = (await (await root.getFileHandle(name)).getFile()).size;
      await root.removeEntry(name);
      return n;
    }, path.basename(file));
  } else {
    const [download] = await Promise.all([page.waitForEvent('download'), page.click('#save')]);
    await page.waitForSelector('#done:not([hidden])', { timeout: 600000 });
    size = fs.statSync(await download.path()).size;
    await download.delete();
  }
  const seconds = (performance.now() - t0) / 1000;
  const c1 = { chromium: chromiumCpu(), relay: cpuOf(server.pid) };
  clearInterval(sampler);
  await context.close();
  await exited(proc);
  if (size !== fs.statSync(file).size) throw new Error('the browser saved a file of the wrong size');
  return {
    mbs: size / seconds / 1e6,
    peak,
    cpu: {
      sender: proc.cpu(),
      relay: c1.relay - c0.relay,
      receiver: total(c1.chromium) - total(c0.chromium),
      kinds: Object.fromEntries(Object.keys(c1.chromium).map((k) => [k, c1.chromium[k] - (c0.chromium[k] || 0)])),
      seconds,
    },
  };
}

const server = spawn(FERRY, ['serve', '--listen', '127.0.0.1:0'], { stdio: ['ignore', 'pipe', 'ignore'] });
const next = lines(server);
await next();
const url = (await next()).split('public URL:')[1].trim();
const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
});
try {
  const file = makeFile('throughput.bin', SIZE);
  const cli = [];
  const web = [];
  const picked = [];
  const cpu = { cli: [], web: [] };
  for (let i = 0; i < RUNS; i++) {
    const c = await cliRelay(url, file);
    cli.push(c.mbs);
    cpu.cli.push(c.cpu);
    const r = await browserReceive(browser, url, file);
    web.push(r.mbs);
    cpu.web.push(r.cpu);
    picked.push((await browserReceive(browser, url, file, 'picker')).mbs);
  }
  fs.rmSync(file);
  const list = (xs) => xs.map((x) => x.toFixed(0)).join(', ');
  console.log(`runs: ${RUNS}, file: ${SIZE / 2 ** 20} MiB, through the relay on loopback`);
  console.log(`CLI receive MB/s: ${list(cli)}`);
  console.log(`page receive, streamed download MB/s: ${list(web)}`);
  console.log(`page receive, File System Access MB/s: ${list(picked)}`);
  for (const [label, xs] of [['streamed download', web], ['File System Access', picked]]) {
    console.log(`median page (${label}) ${median(xs).toFixed(0)} MB/s vs CLI ${median(cli).toFixed(0)} MB/s: ratio ${(median(xs) / median(cli)).toFixed(2)} (goal >= 0.5)`);
  }

  // CPU seconds of each process in the median run (by wall time), and what they mean on this
  // machine: with every core busy the transfer cannot take less than their sum / cores.
  const cores = os.cpus().length;
  for (const [label, runs] of [['CLI receive', cpu.cli], ['page, streamed download', cpu.web]]) {
    const c = [...runs].sort((a, b) => a.seconds - b.seconds)[Math.floor(runs.length / 2)];
    const sum = c.sender + c.relay + c.receiver;
    console.log(`CPU seconds, ${label} (${c.seconds.toFixed(2)} s): sender ${c.sender.toFixed(2)}, relay ${c.relay.toFixed(2)}, ` +
      `receiver ${c.receiver.toFixed(2)}${c.kinds ? ' (Chromium: ' + Object.entries(c.kinds).map(([k, v]) => `${k} ${v.toFixed(2)}`).join(', ') + ')' : ''}, ` +
      `sum ${sum.toFixed(2)}: at most ${(SIZE / (sum / cores) / 1e6).toFixed(0)} MB/s on ${cores} cores`);
  }

  const mem = {};
  for (const [name, size] of [['small', SMALL], ['large', LARGE]]) {
    const f = makeFile(name + '.bin', size);
    const peaks = [];
    for (let i = 0; i < RUNS; i++) peaks.push((await browserReceive(browser, url, f)).peak);
    fs.rmSync(f);
    mem[name] = median(peaks);
  }
  console.log(`browser peak RSS (all Chromium processes): ${(mem.small / 1e6).toFixed(0)} MB receiving ${SMALL / 2 ** 20} MiB, ` +
    `${(mem.large / 1e6).toFixed(0)} MB receiving ${LARGE / 2 ** 20} MiB: ratio ${(mem.large / mem.small).toFixed(2)} ` +
    `(1.0 = does not grow with the file)`);
} finally {
  await browser.close();
  server.kill();
  fs.rmSync(tmp, { recursive: true, force: true });
}
