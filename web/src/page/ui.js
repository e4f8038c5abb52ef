// What the send and receive pages share: sections shown one at a time, sizes and durations in
// words, progress with rate and ETA, and errors as sentences.
import { displayText } from '../protocol.js';

export const $ = (id) => document.getElementById(id);

export function show(id, sections) {
  for (const s of sections) $(s).hidden = s !== id;
}

export function size(n) {
  const units = ['bytes', 'KB', 'MB', 'GB', 'TB'];
  let i = 0;
  while (n >= 1000 && i < units.length - 1) {
    n /= 1000;
    i++;
  }
  return (i === 0 ? n : n.toFixed(1)) + ' ' + units[i];
}

export function duration(s) {
  if (!isFinite(s)) return '';
  if (s < 60) return Math.ceil(s) + ' s';
  return Math.floor(s / 60) + ' min ' + Math.ceil(s % 60) + ' s';
}

// At most ten times a second (and always at the end): redrawing for every record costs the page
// the thread it hashes and saves on.
let lastShown = 0;
export function showProgress(bytes, total, startedMs) {
  const now = performance.now();
  if (now - lastShown < 100 && bytes < total) return;
  lastShown = now;
  const s = (now - startedMs) / 1000;
  const rate = bytes / Math.max(s, 0.001);
  if (!total) {
    // A stream: how much came so far, and how fast; the end is not known.
    $('bar').removeAttribute('value');
    $('bar-text').textContent = size(bytes);
    $('rate').textContent = `${size(rate)}/s`;
    return;
  }
  $('bar').value = (100 * bytes) / total;
  $('bar-text').textContent = `${size(bytes)} of ${size(total)}`;
  $('rate').textContent = `${size(rate)}/s, about ${duration((total - bytes) / rate)} left`;
}

export const SENTENCES = {
  code_unknown: 'This link was already used or has expired (each link works once). Ask the sender for a new one.',
  code_used: 'This link was shared with a group, and its sender takes no more receivers (as many as it allowed came, or someone tried a wrong code). Ask the sender for a new one.',
  wrong_code: 'The code did not match: a typo, or someone guessed. Nothing was sent. Start again for a new code.',
  peer_gone: 'The other side went away before the transfer finished.',
  declined: 'The transfer was declined.',
  relay_limit: "The server's relay ended the transfer at one of its limits.",
  relay_refused: "The server's relay refused the transfer.",
  server_unreachable: 'The ferry server cannot be reached. Check your connection and try again.',
  server_error: 'The ferry server had a problem. Try again in a moment.',
  no_path: 'The other side cannot be reached from a browser.',
  integrity: 'A file did not arrive intact, so it was not kept. Send again.',
  bad_offer: 'The sender offered files with unsafe names; nothing was saved.',
  bad_name: 'A chosen name is one receivers refuse (it could be unsafe on their side); nothing was sent. Rename it, or send a ZIP of it.',
  usage: 'This link is incomplete: copy the whole link, including the part after #.',
  browser: 'This browser is too old for ferry: it lacks service workers, module workers or streams. Try a current Firefox, Chrome, Edge or Safari.',
  interrupted: 'The download was cancelled in the browser.',
  io_error: 'Your browser could not save the bytes (is the disk full, or the place not writable?). The transfer stopped; what was finished stays.',
};

// overrides: sentences a page words its own way.
export function fail(code, detail, sections, overrides = {}) {
  $('error-text').textContent = overrides[code] || SENTENCES[code] || 'The transfer failed.';
  // The detail may quote a server or a peer: its hidden and text-direction characters are shown.
  $('error-detail').textContent = displayText(detail || '');
  show('error', sections);
  document.title = 'ferry: failed';
}
