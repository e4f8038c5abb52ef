// The receive page (/r#<nameplate>-<secret>): nothing happens until the person clicks Receive (a
// link preview that loads the page claims nothing). Then: the offer, Save or Decline, a streamed
// download (one file as itself, several as one ZIP), progress with rate and ETA, and errors as
// sentences.
import sodiumLib from 'libsodium-wrappers-sumo';
import { receive } from '../receive.js';
import { ZipStream } from './zip.js';
import { $, duration, fail as failWith, show as showSection, showProgress, size } from './ui.js';

const SECTIONS = ['start', 'offer', 'progress', 'done', 'error'];
const fail = (code, detail) => failWith(code, detail, SECTIONS, {
  wrong_code: 'This link does not match the transfer it points to: it may be damaged. Nothing was received. Ask the sender for a new link.',
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
      const copy = bytes.slice();
      channel.port1.postMessage({ type: 'chunk', bytes: copy.buffer }, [copy.buffer]);
    },
    close() {
      channel.port1.postMessage({ type: 'end' });
    },
    abort(reason) {
      channel.port1.postMessage({ type: 'abort', reason });
    },
  };
}

// Where the bytes go: the one file itself, or a ZIP of everything (folders included).
function makeSink(registration, offer, nameplate) {
  const files = offer.entries.filter((e) => e.kind === 'file');
  const single = offer.entries.length === 1 && files.length === 1;
  let download = null;
  let zip = null;
  return {
    async start() {
      if (single) {
        download = await startDownload(registration, files[0].path.split('/').pop(), files[0].size);
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

async function main() {
  const fragment = location.hash.slice(1);
  if (!('serviceWorker' in navigator) || typeof ReadableStream === 'undefined' || typeof WebSocket === 'undefined') {
    return fail('browser');
  }
  if (!/^[1-9][0-9]*-[A-Za-z0-9_-]{22}$/.test(fragment)) return fail('usage');
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
    const server = location.origin + location.pathname.replace(/\/r\/?$/, '');
    try {
      const result = await receive({
        sodium: sodiumLib,
        WebSocket,
        fetch: (...args) => fetch(...args),
        server,
        code: fragment,
        decide: (offer) => new Promise((resolve) => {
          if (offer.kind === 'text') {
            $('done-text').textContent = 'The sender wrote:';
            $('message').textContent = offer.text;
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
            li.textContent = e.kind === 'dir' ? e.path + '/' : `${e.path} (${size(e.size)})`;
            return li;
          }));
          if (offer.entries.length > 200) {
            const li = document.createElement('li');
            li.textContent = `… and ${offer.entries.length - 200} more`;
            list.appendChild(li);
          }
          $('save-note').textContent = offer.entries.length === 1 ? '' : 'They will be saved as one ZIP file.';
          show('offer');
          document.title = 'ferry: offer';
          $('save').focus();
          $('save').onclick = async () => {
            sink = makeSink(registration, offer, nameplate);
            await sink.start();
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
          if (e.event === 'progress') showProgress(e.bytes, e.total, started);
        },
      });
      if (result.declined) return fail('declined');
      if (result.offer.kind === 'text') return;
      await sink.finish();
      const s = (performance.now() - started) / 1000;
      const files = result.offer.entries.filter((e) => e.kind === 'file');
      const total = files.reduce((a, e) => a + e.size, 0);
      $('done-text').textContent = `Received ${files.length} file${files.length === 1 ? '' : 's'} (${size(total)}) in ${duration(s)}; every file was verified. Your browser saved it to your downloads.`;
      show('done');
      document.title = 'ferry: done';
    } catch (e) {
      fail(e.code || 'server_error', e.message);
    }
  });
}

main().catch((e) => fail('server_error', e.message));
