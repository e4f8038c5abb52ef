// A WebSocket carried by ordinary HTTPS requests (docs/protocol.md, "Through proxies that refuse
// upgrades"), for networks whose proxy removes the upgrade: POST /v1/tunnel opens a tunnel of one
// connection's bytes, POSTs carry ours (resent by offset when lost) and long-polled GETs the
// server's; inside runs the same WebSocket the browser would have opened (RFC 6455 framing, done
// here), so the server treats it exactly like one. It offers the part of the WebSocket API the
// page uses: binaryType 'arraybuffer', onopen, onmessage, onclose, onerror, send, close,
// bufferedAmount.

import { concat } from './protocol.js';

const MAX_BODY = 512 * 1024; // proto/http_tunnel.hpp: kTunnelMaxBody
const ATTEMPTS = 6; // a request lost on the way is sent again, pauses doubling from 100 ms
const MAX_MESSAGE = 2 * 1024 * 1024; // the relay's frames are at most 1 MiB; rendezvous 64 KiB

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const enc = new TextEncoder();

// A class with the WebSocket constructor's shape, whose requests go through fetchImpl.
export function tunnelWebSocket(fetchImpl) {
  return class TunnelWebSocket {
    constructor(url) {
      this.binaryType = 'arraybuffer';
      this.bufferedAmount = 0;
      this.onopen = this.onmessage = this.onclose = this.onerror = null;
      const u = new URL(url);
      const httpOrigin = (u.protocol === 'wss:' ? 'https://' : 'http://') + u.host;
      const base = u.pathname.slice(0, Math.max(0, u.pathname.lastIndexOf('/v1/')));
      this.tunnelUrl = httpOrigin + base + '/v1/tunnel';
      this.target = u.pathname + u.search;
      this.host = u.host;
      this.outgoing = [];
      this.outgoingBytes = 0;
      this.wake = null;
      this.ended = false; // no more events
      this.closing = false;
      this.inbox = new Uint8Array(0);
      this.opened = false;
      this.fragments = [];
      this.fragmentBytes = 0;
      this.fragmentOpcode = 0;
      this.run().catch(() => this.fail());
    }

    async request(method, url, body) {
      let last = null;
      for (let attempt = 0; attempt < ATTEMPTS && !this.ended; attempt++) {
        if (attempt > 0) await sleep(100 * 2 ** (attempt - 1));
        try {
          const res = await fetchImpl(url, { method, body, cache: 'no-store', credentials: 'omit' });
          // 409: our earlier copy is still being carried out; 502-504: a proxy lost its way there.
          if ([409, 502, 503, 504].includes(res.status)) {
            last = new Error('HTTP ' + res.status);
            await res.arrayBuffer().catch(() => null);
            continue;
          }
          return res;
        } catch (e) {
          last = e;
        }
      }
      throw last || new Error('closed');
    }

    async run() {
      const opened = await this.request('POST', this.tunnelUrl);
      const token = (await opened.text()).trim();
      if (opened.status !== 200 || !/^[0-9a-f]{32}$/.test(token)) throw new Error('no tunnel');
      this.base = this.tunnelUrl + '/' + token;
      const key = btoa(String.fromCharCode(...crypto.getRandomValues(new Uint8Array(16))));
      const origin = globalThis.location ? '\r\nOrigin: ' + globalThis.location.origin : '';
      this.queue(enc.encode(
        `GET ${this.target} HTTP/1.1\r\nHost: ${this.host}\r\nUpgrade: websocket\r\n` +
          `Connection: Upgrade\r\nSec-WebSocket-Key: ${key}\r\nSec-WebSocket-Version: 13${origin}\r\n\r\n`,
      ), false);
      await Promise.all([this.uploads(), this.downloads()]);
    }

    queue(bytes, counted = true) {
      this.outgoing.push(bytes);
      this.outgoingBytes += bytes.length;
      if (counted) this.bufferedAmount += bytes.length;
      if (this.wake) this.wake();
    }

    async uploads() {
      let offset = 0;
      for (;;) {
        while (!this.outgoing.length && !this.ended) await new Promise((r) => (this.wake = r));
        if (this.ended && !this.outgoing.length) return;
        const parts = [];
        let n = 0;
        while (this.outgoing.length && n + this.outgoing[0].length <= MAX_BODY) {
          n += this.outgoing[0].length;
          parts.push(this.outgoing.shift());
        }
        if (!parts.length) {
          // One piece larger than a body: sent in slices.
          const head = this.outgoing[0];
          parts.push(head.subarray(0, MAX_BODY));
          this.outgoing[0] = head.subarray(MAX_BODY);
          n = MAX_BODY;
        }
        this.outgoingBytes -= n;
        const res = await this.request('POST', this.base + '/up/' + offset, concat(...parts));
        if (res.status !== 204) throw new Error('upload refused: HTTP ' + res.status);
        offset += n;
        this.bufferedAmount = Math.max(0, this.bufferedAmount - n);
      }
    }

    async downloads() {
      let offset = 0;
      while (!this.ended) {
        const res = await this.request('GET', this.base + '/down/' + offset);
        if (res.status === 204) continue;
        if (res.status === 410) return this.finish(1006, 'the connection ended');
        if (res.status !== 200) throw new Error('download refused: HTTP ' + res.status);
        const bytes = new Uint8Array(await res.arrayBuffer());
        offset += bytes.length;
        this.take(bytes);
      }
    }

    take(bytes) {
      const all = new Uint8Array(this.inbox.length + bytes.length);
      all.set(this.inbox);
      all.set(bytes, this.inbox.length);
      let at = 0;
      if (!this.opened) {
        const end = new TextDecoder().decode(all.subarray(0, 8192)).indexOf('\r\n\r\n');
        if (end < 0) {
          if (all.length > 8192) throw new Error('no handshake');
          this.inbox = all;
          return;
        }
        if (!/^HTTP\/1\.1 101 /.test(new TextDecoder().decode(all.subarray(0, 13)))) throw new Error('refused');
        at = end + 4;
        this.opened = true;
        if (this.onopen) this.onopen({});
      }
      for (;;) {
        const frame = this.frameAt(all, at);
        if (!frame) break;
        at = frame.next;
        this.onFrame(frame);
        if (this.ended) return;
      }
      this.inbox = all.slice(at);
    }

    // The server's frame at `at` (never masked), or null when not all of it is here yet.
    frameAt(b, at) {
      if (b.length - at < 2) return null;
      const fin = (b[at] & 0x80) !== 0;
      const opcode = b[at] & 0x0f;
      if (b[at + 1] & 0x80) throw new Error('a masked frame from the server');
      let len = b[at + 1] & 0x7f;
      let p = at + 2;
      if (len === 126) {
        if (b.length - p < 2) return null;
        len = (b[p] << 8) | b[p + 1];
        p += 2;
      } else if (len === 127) {
        if (b.length - p < 8) return null;
        if (b[p] | b[p + 1] | b[p + 2] | b[p + 3]) throw new Error('frame too large');
        len = ((b[p + 4] << 24) >>> 0) + (b[p + 5] << 16) + (b[p + 6] << 8) + b[p + 7];
        p += 8;
      }
      if (len > MAX_MESSAGE) throw new Error('frame too large');
      if (b.length - p < len) return null;
      return { fin, opcode, payload: b.slice(p, p + len), next: p + len };
    }

    onFrame({ fin, opcode, payload }) {
      if (opcode === 8) {
        const code = payload.length >= 2 ? (payload[0] << 8) | payload[1] : 1005;
        const reason = new TextDecoder().decode(payload.subarray(2));
        if (!this.closing) this.queue(this.frame(8, payload.subarray(0, 2)), false);
        this.closing = true;
        return this.finish(code, reason);
      }
      if (opcode === 9) return this.queue(this.frame(10, payload), false);
      if (opcode === 10) return;
      if (opcode !== 0) {
        this.fragmentOpcode = opcode;
        this.fragments = [];
        this.fragmentBytes = 0;
      }
      this.fragments.push(payload);
      this.fragmentBytes += payload.length;
      if (this.fragmentBytes > MAX_MESSAGE) throw new Error('message too large');
      if (!fin) return;
      const whole = concat(...this.fragments);
      this.fragments = [];
      const data = this.fragmentOpcode === 1 ? new TextDecoder().decode(whole) : whole.buffer;
      if (this.onmessage) this.onmessage({ data });
    }

    // A client frame: masked, as RFC 6455 requires.
    frame(opcode, payload) {
      const n = payload.length;
      const head = n < 126 ? 2 : n < 65536 ? 4 : 10;
      const out = new Uint8Array(head + 4 + n);
      out[0] = 0x80 | opcode;
      if (n < 126) {
        out[1] = 0x80 | n;
      } else if (n < 65536) {
        out[1] = 0x80 | 126;
        out[2] = n >> 8;
        out[3] = n & 0xff;
      } else {
        out[1] = 0x80 | 127;
        const v = new DataView(out.buffer);
        v.setUint32(2, Math.floor(n / 2 ** 32));
        v.setUint32(6, n >>> 0);
      }
      const mask = crypto.getRandomValues(new Uint8Array(4));
      out.set(mask, head);
      for (let i = 0; i < n; i++) out[head + 4 + i] = payload[i] ^ mask[i & 3];
      return out;
    }

    send(data) {
      if (this.ended || this.closing) return;
      if (typeof data === 'string') return this.queue(this.frame(1, enc.encode(data)));
      const bytes = data instanceof Uint8Array ? data : new Uint8Array(data.buffer || data, data.byteOffset || 0, data.byteLength);
      this.queue(this.frame(2, bytes));
    }

    close(code = 1000) {
      if (this.ended || this.closing) return;
      this.closing = true;
      this.queue(this.frame(8, new Uint8Array([code >> 8, code & 0xff])), false);
      // The server answers with its close frame; without one, the tunnel ends in 5 s.
      setTimeout(() => this.finish(1006, ''), 5000);
    }

    finish(code, reason) {
      if (this.ended) return;
      this.ended = true;
      if (this.wake) this.wake();
      if (!this.opened) {
        if (this.onerror) this.onerror({});
      }
      if (this.onclose) this.onclose({ code, reason });
    }

    fail() {
      this.finish(1006, '');
    }
  };
}
