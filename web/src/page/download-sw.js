// The service worker that turns bytes the page receives into a streamed download, so a file of
// any size goes to disk without being held in memory. The page hands it a MessagePort per
// download; this worker answers GET /app/download/<id> with a stream fed from that port, asking
// for each next chunk only when the browser has taken the previous one (back-pressure).
const pending = new Map();

self.addEventListener('install', () => self.skipWaiting());
self.addEventListener('activate', (event) => event.waitUntil(self.clients.claim()));

self.addEventListener('message', (event) => {
  const { type, id, filename, size } = event.data || {};
  if (type !== 'download' || !event.ports[0]) return;
  const port = event.ports[0];
  let done = false;
  const stream = new ReadableStream(
    {
      start(controller) {
        port.onmessage = ({ data }) => {
          if (data.type === 'chunk') controller.enqueue(new Uint8Array(data.bytes, data.offset, data.length));
          else if (data.type === 'end') {
            done = true;
            controller.close();
          } else if (data.type === 'abort') {
            done = true;
            controller.error(new Error(data.reason || 'aborted'));
          }
        };
      },
      pull() {
        if (!done) port.postMessage({ type: 'pull' });
      },
      cancel() {
        port.postMessage({ type: 'cancelled' });
      },
    },
    // Up to 16 chunks (at most 16 MiB) queued: enough to keep the disk busy, bounded memory.
    { highWaterMark: 16 },
  );
  pending.set(id, { stream, filename, size });
  port.postMessage({ type: 'ready' });
});

self.addEventListener('fetch', (event) => {
  const url = new URL(event.request.url);
  const m = /\/app\/download\/([A-Za-z0-9_-]+)$/.exec(url.pathname);
  if (!m) return;
  const d = pending.get(m[1]);
  if (!d) {
    event.respondWith(new Response('this download has expired', { status: 404 }));
    return;
  }
  pending.delete(m[1]);
  const headers = {
    'Content-Type': 'application/octet-stream',
    'Content-Disposition': "attachment; filename*=UTF-8''" + encodeURIComponent(d.filename),
    'X-Content-Type-Options': 'nosniff',
  };
  if (d.size !== undefined) headers['Content-Length'] = String(d.size);
  event.respondWith(new Response(d.stream, { headers }));
});
