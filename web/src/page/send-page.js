// The send page (/): pick or drop files or a folder, get a code and a link, keep the page open
// while the receiver (a CLI or another browser) takes the files: over a WebRTC data channel
// where one opens to it, through the relay otherwise.
import qrcode from 'qrcode-generator';
import sodiumLib from '/app/sodium.js';
import { send } from '../send.js';
import { browserRtc } from '../rtc.js';
import { Socket } from '../session.js';
import { tunnelWebSocket } from '../tunnel_socket.js';
import { $, fail, show, showProgress, size } from './ui.js';

// Where a proxy removes the WebSocket upgrade, the same WebSockets ride HTTPS requests.
Socket.overHttps = tunnelWebSocket((url, init) => fetch(url, init));

const SECTIONS = ['pick', 'code-box', 'progress', 'done', 'error'];
let chosen = [];

// Files (with their relative paths) and the folders above them, parents first.
function itemsFrom(files) {
  const dirs = new Set();
  const items = [];
  for (const f of files) {
    const p = f.webkitRelativePath || f.name;
    const parts = p.split('/');
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join('/'));
    items.push({ path: p, size: f.size, mtime: f.lastModified, slice: (a, b) => f.slice(a, b) });
  }
  return [...[...dirs].sort().map((d) => ({ path: d, dir: true })), ...items];
}

function choose(files) {
  chosen = itemsFrom(files);
  const list = chosen.filter((i) => !i.dir);
  const total = list.reduce((a, i) => a + i.size, 0);
  $('chosen').textContent = list.length
    ? `${list.length} file${list.length === 1 ? '' : 's'} (${size(total)}) chosen.`
    : '';
  $('send').disabled = list.length === 0;
}

$('files').addEventListener('change', (e) => choose(e.target.files));
$('folder').addEventListener('change', (e) => choose(e.target.files));
$('drop').addEventListener('dragover', (e) => {
  e.preventDefault();
  $('drop').classList.add('over');
});
$('drop').addEventListener('dragleave', () => $('drop').classList.remove('over'));
$('drop').addEventListener('drop', (e) => {
  e.preventDefault();
  $('drop').classList.remove('over');
  choose(e.dataTransfer.files);
});

$('text').addEventListener('input', () => ($('send-text').disabled = $('text').value.length === 0));

$('send').addEventListener('click', () => start(null));
$('send-text').addEventListener('click', () => start($('text').value));

// text: a message to send instead of the chosen files (null: the files).
async function start(text) {
  $('send').disabled = true;
  $('send-text').disabled = true;
  await sodiumLib.ready;
  let started = 0;
  const server = location.origin + location.pathname.replace(/\/(index\.html)?$/, '');
  try {
    await send({
      sodium: sodiumLib,
      WebSocket,
      rtc: typeof RTCPeerConnection === 'function' ? browserRtc(RTCPeerConnection) : undefined,
      server,
      items: text === null ? chosen : [],
      ...(text === null ? {} : { text }),
      onCode: ({ code, link }) => {
        $('command').textContent = 'ferry receive --server ' + server + ' ' + code;
        $('link').textContent = link;
        $('link').href = link;
        $('copy').onclick = () => navigator.clipboard.writeText(link).then(() => ($('copy').textContent = 'Copied'));
        // The link as a QR code, for a phone's camera. The SVG holds only squares, no text.
        const qr = qrcode(0, 'M');
        qr.addData(link);
        qr.make();
        $('qr').innerHTML = qr.createSvgTag({ cellSize: 4, margin: 4, scalable: true });
        show('code-box', SECTIONS);
        document.title = 'ferry: ' + code;
      },
      onEvent: (e) => {
        if (e.event === 'peer') $('send-status').textContent = 'The receiver is here; checking the code…';
        if (e.event === 'connected') {
          if (!e.moved) started = performance.now();
          show('progress', SECTIONS);
          // Which path carries the bytes: the data channel straight to the receiver, or the relay.
          $('path').textContent = e.path === 'direct'
            ? (e.moved ? 'Moved to a direct path to the receiver (WebRTC data channel).' : 'Direct to the receiver (WebRTC data channel).')
            : `Through the ferry server's relay (${e.carrier || e.transport}).`;
          $('path').dataset.path = e.path;
          $('path').hidden = false;
        }
        if (e.event === 'progress') showProgress(e.bytes, e.total, started);
      },
    });
    const files = chosen.filter((i) => !i.dir);
    $('done-text').textContent = text !== null
      ? 'Text message delivered.'
      : `Sent ${files.length} file${files.length === 1 ? '' : 's'}; the receiver verified every one.`;
    show('done', SECTIONS);
    document.title = 'ferry: sent';
  } catch (e) {
    fail(e.code || 'server_error', e.message, SECTIONS);
  }
}
