// The receive page (/r#<nameplate>-<secret>): nothing happens until the person clicks Receive (a
// link preview that loads the page claims nothing). Then: the offer, Save or Decline; the bytes go
// into a file or folder the person picks (File System Access API) or, in browsers without it, a
// streamed download (one file as itself, several as one ZIP); progress with rate and ETA; errors as
// sentences.
import sodiumLib from '/app/sodium.js';
import { receiveInWorker } from './receive-bridge.js';
import { ZipStream } from './zip.js';
import { displayText, normalizeCode } from '../protocol.js';
import { WORDS } from '../wordlist.js';
import { $, duration, fail as failWith, show as showSection, showProgress, size } from './ui.js';

const SECTIONS = ['enter', 'start', 'offer', 'progress', 'done', 'error'];
let typed = false; // the code was typed into the page, not carried by a link
const fail = (code, detail) => failWith(code, detail, SECTIONS, {
  ...(typed ? {} : { wrong_code: 'This link does not match the transfer it points to: it may be damaged. Nothing was received. Ask the sender for a new link.' }),
  peer_gone: 'The sender went away before the transfer finished. Ask them to send again.',
  declined: 'You declined the transfer.',
});
const show = (id) => showSection(id, SECTIONS);

// A download fed through the service worker, with back-pressure: each chunk waits for the
// worker's request for more.
async function startDownload(registration, filename, totalSize) {
  const id = Array.from(crypto.getRandomValues(new Uint8Array(12)), (b) => b.toString(16).padStart(2, '0')).join('');
  const channel = new MessageChannel();
  let credits = 0;
  let wake = null;
  let cancelled = false;
  const ready = new Promise((resolve) => {
    channel.port1.onmessage = ({ data }) => {
      if (data.type === 'ready') resolve();
      if (data.type === 'pull') credits++;
      if (data.type === 'cancelled') cancelled = true;
      if (wake) {
        const w = wake;
        wake = null;
        w();
      }
    };
  });
  registration.active.postMessage({ type: 'download', id, filename, size: totalSize }, [channel.port2]);
  await ready;
  const frame = document.createElement('iframe');
  frame.hidden = true;
  frame.src = '/app/download/' + id;
  document.body.appendChild(frame);
  return {
    async write(bytes) {
      while (credits === 0 && !cancelled) await new Promise((r) => (wake = r));
      if (cancelled) throw Object.assign(new Error('the download was cancelled in the browser'), { code: 'interrupted' });
      credits--;
      // The sink owns bytes (receive.js): its buffer moves to the worker without a copy.
      channel.port1.postMessage({ type: 'chunk', bytes: bytes.buffer, offset: bytes.byteOffset, length: bytes.byteLength },
        [bytes.buffer]);
    },
    close() {
      channel.port1.postMessage({ type: 'end' });
    },
    abort(reason) {
      channel.port1.postMessage({ type: 'abort', reason });
    },
  };
}

// A File System Access writable fed chunk by chunk: each write waits only while the browser's
// queue is full, so decryption and disk writes overlap.
async function openWritable(fileHandle) {
  const writer = (await fileHandle.createWritable()).getWriter();
  return {
    async write(bytes) {
      await writer.ready;
      writer.write(bytes).catch(() => {}); // a failure shows at the next ready or at close
    },
    close: () => writer.close(),
    abort: () => writer.abort().catch(() => {}),
  };
}

// The one file, straight into the file the person picked (File System Access API).
function pickedFileSink(handle) {
  let out = null;
  return {
    where: 'It is saved where you chose.',
    async begin() {
      out = await openWritable(handle);
    },
    write: (bytes) => out.write(bytes),
    async end() {
      await out.close(); // the browser moves the finished file into place
      out = null;
    },
    async finish() {},
    abandon() {
      if (out) out.abort(); // nothing reaches the picked file
    },
  };
}

// Several files and folders, file by file into the folder the person picked, its layout kept.
// Names were checked when the offer was read (safeRelativePath): none leaves the folder.
function pickedFolderSink(root, offer) {
  const dirs = new Map([['', root]]);
  const dirFor = async (p) => {
    if (!dirs.has(p)) {
      const cut = p.lastIndexOf('/');
      const parent = await dirFor(cut < 0 ? '' : p.slice(0, cut));
      dirs.set(p, await parent.getDirectoryHandle(p.slice(cut + 1), { create: true }));
    }
    return dirs.get(p);
  };
  let out = null;
  return {
    where: 'They are saved in the folder you chose.',
    async start() {
      for (const e of offer.entries) if (e.kind === 'dir') await dirFor(e.path);
    },
    async begin(entry) {
      const cut = entry.path.lastIndexOf('/');
      const dir = await dirFor(cut < 0 ? '' : entry.path.slice(0, cut));
      out = await openWritable(await dir.getFileHandle(entry.path.slice(cut + 1), { create: true }));
    },
    write: (bytes) => out.write(bytes),
    async end() {
      await out.close();
      out = null;
    },
    async finish() {},
    abandon() {
      if (out) out.abort(); // files already finished stay; the one in flight is dropped
    },
  };
}

// The first top-level name of the offer that already exists in the picked folder, if any.
async function firstTaken(root, offer) {
  const tops = new Set(offer.entries.map((e) => e.path.split('/')[0]));
  for (const name of tops) {
    for (const get of ['getFileHandle', 'getDirectoryHandle']) {
      try {
        await root[get](name);
        return name;
      } catch { /* not there as this kind */ }
    }
  }
  return null;
}

// Where the bytes go. Where the browser lets the page write files (File System Access API), the
// person picks the file, or for several a folder; otherwise a streamed download through the
// service worker. Must be called straight from the click (pickers need the user's gesture).
// Resolves to null when the person cancelled the picker.
async function chooseSink(registration, offer, nameplate) {
  const files = offer.entries.filter((e) => e.kind === 'file');
  const single = offer.entries.length === 1 && files.length === 1;
  try {
    if (single && typeof window.showSaveFilePicker === 'function') {
      return pickedFileSink(await window.showSaveFilePicker({ suggestedName: files[0].path.split('/').pop() }));
    }
    if (!single && typeof window.showDirectoryPicker === 'function') {
      const root = await window.showDirectoryPicker({ id: 'ferry', mode: 'readwrite' });
      const taken = await firstTaken(root, offer);
      if (taken) {
        throw Object.assign(new Error(`“${taken}” is already in the folder you picked. Pick another folder, so nothing is overwritten.`), { stay: true });
      }
      const sink = pickedFolderSink(root, offer);
      await sink.start();
      return sink;
    }
  } catch (e) {
    if (e.name === 'AbortError') return null;
    if (e.stay) throw e;
    // A browser that has the API but refuses it here: the download still works.
  }
  const sink = makeSink(registration, offer, nameplate);
  await sink.start();
  return sink;
}

// A download: the one file itself, or a ZIP of everything (folders included).
function makeSink(registration, offer, nameplate) {
  const files = offer.entries.filter((e) => e.kind === 'file');
  const single = offer.entries.length === 1 && files.length === 1;
  let download = null;
  let zip = null;
  return {
    where: 'Your browser saved it to your downloads.',
    async start() {
      if (single) {
        download = await startDownload(registration, files[0].path.split('/').pop(), files[0].stream ? undefined : files[0].size);
      } else {
        download = await startDownload(registration, 'ferry-' + nameplate + '.zip', undefined);
        zip = new ZipStream((b) => download.write(b));
        for (const e of offer.entries) if (e.kind === 'dir') await zip.directory(e.path);
      }
    },
    async begin(entry) {
      if (zip) await zip.begin(entry.path, false, entry.exec ? 0o755 : 0o644);
    },
    async write(bytes) {
      if (zip) await zip.write(bytes);
      else await download.write(bytes);
    },
    async end() {
      if (zip) await zip.end();
    },
    async finish() {
      if (zip) await zip.finish();
      download.close();
    },
    abandon() {
      if (download) download.abort('the transfer failed');
    },
  };
}

// No link fragment: the person types the code the sender read out (or pastes a link).
function askForCode() {
  show('enter');
  $('code-input').focus();
  return new Promise((resolve) => {
    $('code-form').addEventListener('submit', (ev) => {
      ev.preventDefault();
      try {
        const code = normalizeCode($('code-input').value, WORDS);
        history.replaceState(null, '', '#' + code);
        typed = true;
        resolve(code);
      } catch (e) {
        $('code-error').textContent = e.message;
      }
    });
  });
}

async function main() {
  if (!('serviceWorker' in navigator) || typeof ReadableStream === 'undefined' || typeof WebSocket === 'undefined' ||
      typeof Worker === 'undefined') {
    return fail('browser');
  }
  const fragment = location.hash.length > 1 ? location.hash.slice(1) : await askForCode();
  if (!/^[1-9][0-9]*-([A-Za-z0-9_-]{22}|[a-z]+(-[a-z]+){1,7})$/.test(fragment)) return fail('usage');
  const nameplate = fragment.split('-')[0];
  show('start');
  // The worker's scope (/app/) does not cover this page, so serviceWorker.ready would never
  // resolve: wait for this registration's worker to activate instead.
  const registration = await navigator.serviceWorker.register('/app/download-sw.js', { scope: '/app/' });
  if (!registration.active) {
    const worker = registration.installing || registration.waiting;
    await new Promise((resolve) => {
      worker.addEventListener('statechange', () => worker.state === 'activated' && resolve());
    });
  }
  $('receive').disabled = false;
  $('receive').focus();
  $('receive').addEventListener('click', async () => {
    $('receive').disabled = true;
    $('start-status').textContent = 'Connecting to the sender…';
    await sodiumLib.ready;
    let sink = null;
    let started = 0;
    let received = 0; // bytes so far: a stream's size is known only at its end
    const server = location.origin + location.pathname.replace(/\/r\/?$/, '');
    try {
      // The protocol and decryption run in a worker; hashing and saving here (receive-bridge.js).
      const result = await receiveInWorker({
        sodium: sodiumLib,
        server,
        code: fragment,
        decide: (offer) => new Promise((resolve) => {
          if (offer.kind === 'text') {
            $('done-text').textContent = 'The sender wrote:';
            $('message').textContent = displayText(offer.text);
            $('message').hidden = false;
            show('done');
            document.title = 'ferry: message received';
            return resolve(true);
          }
          const files = offer.entries.filter((e) => e.kind === 'file');
          const total = files.reduce((a, e) => a + e.size, 0);
          $('offer-summary').textContent = `The sender offers ${files.length} file${files.length === 1 ? '' : 's'} (${size(total)}):`;
          const list = $('offer-list');
          list.replaceChildren(...offer.entries.slice(0, 200).map((e) => {
            const li = document.createElement('li');
            li.textContent = e.kind === 'dir' ? e.path + '/' : `${e.path} (${e.stream ? 'streamed, size unknown' : size(e.size)})`;
            return li;
          }));
          if (offer.entries.length > 200) {
            const li = document.createElement('li');
            li.textContent = `… and ${offer.entries.length - 200} more`;
            list.appendChild(li);
          }
          const single = offer.entries.length === 1;
          $('save-note').textContent = single
            ? (typeof window.showSaveFilePicker === 'function' ? 'You choose where to save it.' : '')
            : (typeof window.showDirectoryPicker === 'function'
              ? 'You choose a folder; they are saved into it as they are.' : 'They will be saved as one ZIP file.');
          show('offer');
          document.title = 'ferry: offer';
          $('save').focus();
          $('save').onclick = async () => {
            try {
              sink = await chooseSink(registration, offer, nameplate);
            } catch (e) {
              $('save-note').textContent = e.message;
              return;
            }
            if (!sink) return; // the picker was cancelled: the offer stays
            started = performance.now();
            show('progress');
            document.title = 'ferry: receiving';
            resolve(true);
          };
          $('decline').onclick = () => resolve(false);
        }),
        sink: {
          begin: (e, i) => sink.begin(e, i),
          write: (b) => sink.write(b),
          end: (e, i) => sink.end(e, i),
          abandon: () => sink && sink.abandon(),
        },
        onEvent: (e) => {
          if (e.event === 'connected' || (e.event === 'direct-open' && $('path').dataset.path !== 'direct')) {
            // Which path carries the bytes: the data channel straight to the sender, or the relay.
            $('path').textContent = e.event === 'direct-open'
              ? 'A direct path to the sender is open (WebRTC data channel): the bytes will take it.'
              : e.path === 'direct'
                ? (e.moved ? 'Moved to a direct path to the sender (WebRTC data channel).' : 'Direct to the sender (WebRTC data channel).')
                : `Through the ferry server's relay (${e.carrier || e.transport}).`;
            $('path').dataset.path = e.event === 'direct-open' ? 'direct-open' : e.path;
            $('path').hidden = false;
          } else if (e.event === 'note' && e.comeback) {
            // A break and the way back ("reconnecting to continue"): on the path's line, which
            // the next path replaces.
            $('path').textContent = e.message;
            $('path').dataset.path = 'note';
            $('path').hidden = false;
          } else if (e.event === 'progress') {
            received = e.bytes;
            showProgress(e.bytes, e.total, started);
          }
        },
      });
      if (result.declined) return fail('declined');
      if (result.offer.kind === 'text') return;
      await sink.finish();
      const s = (performance.now() - started) / 1000;
      const files = result.offer.entries.filter((e) => e.kind === 'file');
      const total = Math.max(files.reduce((a, e) => a + e.size, 0), received);
      $('done-text').textContent = `Received ${files.length} file${files.length === 1 ? '' : 's'} (${size(total)}) in ${duration(s)}; every file was verified. ${sink.where}`;
      show('done');
      document.title = 'ferry: done';
    } catch (e) {
      fail(e.code || 'server_error', e.message);
    }
  });
}

main().catch((e) => fail('server_error', e.message));
