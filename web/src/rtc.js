// WebRTC data channels for the pages (the `rtc` of session.js's openWebRtcPipe): the browser's own
// RTCPeerConnection, and, for the receive worker, which has none, the same through messages to the
// page that made it. The channel is negotiated (id 0, both sides open it), ordered and reliable;
// its offer is sent only once ICE gathering is done (or after gatherMs), so one sealed message
// carries every candidate. STUN is the ferry server's; there is no TURN (the relay is ferry's).
import { ProtocolError } from './protocol.js';

// A channel as session.js's Socket uses it (onmessage, onclose, send, close, bufferedAmount), whose
// close also ends the connection.
function channelSocket(pc, channel) {
  return {
    set binaryType(t) {
      channel.binaryType = t;
    },
    set onmessage(f) {
      channel.onmessage = f;
    },
    set onclose(f) {
      channel.onclose = f;
    },
    get bufferedAmount() {
      return channel.bufferedAmount;
    },
    send: (data) => channel.send(data),
    close: () => {
      channel.close();
      pc.close();
    },
  };
}

// Resolves when gathering is complete, or soon after the first public (srflx) candidate: a STUN
// server that does not answer on some interface keeps "complete" away for many seconds, and the
// candidates that matter are there by then. At most gatherMs.
function gathered(pc, gatherMs) {
  if (pc.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(resolve, gatherMs);
    const done = () => {
      clearTimeout(timer);
      resolve();
    };
    pc.addEventListener('icegatheringstatechange', () => {
      if (pc.iceGatheringState === 'complete') done();
    });
    pc.addEventListener('icecandidate', (e) => {
      if (e.candidate && / typ srflx /.test(e.candidate.candidate)) setTimeout(done, 150);
    });
  });
}

// The channel as a socket once it is open; fails when it closes first or ICE fails.
async function channelOpen(pc, channel) {
  if (channel.readyState !== 'open') {
    await new Promise((resolve, reject) => {
      channel.onopen = resolve;
      channel.onclose = () => reject(new ProtocolError('no_path', 'the data channel closed before it opened'));
      pc.onconnectionstatechange = () => {
        if (pc.connectionState === 'failed') reject(new ProtocolError('no_path', 'no connectivity check succeeded'));
      };
    });
  }
  channel.onopen = null;
  channel.onclose = null;
  pc.onconnectionstatechange = null;
  return channelSocket(pc, channel);
}

export function browserRtc(RTCPeerConnectionImpl, { gatherMs = 1500 } = {}) {
  // A connection with the negotiated channel, and its local description made by describe(pc)
  // and gathered: { pc, channel }.
  const start = async (iceServers, describe) => {
    const pc = new RTCPeerConnectionImpl({ iceServers });
    const channel = pc.createDataChannel('ferry', { negotiated: true, id: 0, ordered: true });
    channel.binaryType = 'arraybuffer';
    try {
      await describe(pc, channel);
      await gathered(pc, gatherMs);
    } catch (e) {
      pc.close();
      throw new ProtocolError('no_path', 'WebRTC did not start: ' + e.message);
    }
    return { pc, channel };
  };
  return {
    async open({ iceServers }) {
      const { pc, channel } = await start(iceServers, async (c) => c.setLocalDescription(await c.createOffer()));
      return {
        offer: pc.localDescription.sdp,
        async accept(answer) {
          await pc.setRemoteDescription({ type: 'answer', sdp: answer });
          return channelOpen(pc, channel);
        },
        close: () => pc.close(),
      };
    },
    // The other role, for a send page facing a receive page (which offers): the answer's text once
    // gathered, and opened(), the channel once open.
    async answer({ iceServers, offer }) {
      let opening = null;
      const { pc } = await start(iceServers, async (c, channel) => {
        opening = channelOpen(c, channel); // (listening before the checks can open it)
        opening.catch(() => {}); // (reported by opened())
        await c.setRemoteDescription({ type: 'offer', sdp: offer });
        await c.setLocalDescription(await c.createAnswer());
      });
      return {
        answer: pc.localDescription.sdp,
        opened: () => opening,
        close: () => pc.close(),
      };
    },
  };
}

// The page's side of the worker's rtc: handles the worker's 'rtc' messages (returns true for
// those) and answers through post(message, transfer).
export function rtcHost(rtc, post) {
  const sessions = new Map(); // id -> the session, then the channel
  const fail = (id, e) => post({ type: 'rtc', op: 'failed', id, message: e.message });
  return (data) => {
    if (data.type !== 'rtc') return false;
    const { id } = data;
    if (data.op === 'open') {
      rtc.open({ iceServers: data.iceServers }).then((session) => {
        sessions.set(id, session);
        post({ type: 'rtc', op: 'offer', id, sdp: session.offer });
      }, (e) => fail(id, e));
    } else if (data.op === 'answer') {
      const session = sessions.get(id);
      if (!session) return true;
      session.accept(data.sdp).then((channel) => {
        sessions.set(id, { channel });
        channel.binaryType = 'arraybuffer';
        channel.onmessage = (e) => post({ type: 'rtc', op: 'data', id, buffer: e.data }, [e.data]);
        channel.onclose = () => post({ type: 'rtc', op: 'closed', id });
        post({ type: 'rtc', op: 'open', id });
      }, (e) => fail(id, e));
    } else if (data.op === 'send') {
      const s = sessions.get(id);
      if (s && s.channel) s.channel.send(new Uint8Array(data.buffer, data.offset, data.length));
    } else if (data.op === 'close') {
      const s = sessions.get(id);
      sessions.delete(id);
      if (s && s.channel) s.channel.close();
      else if (s) s.close();
    }
    return true;
  };
}

// The worker's rtc: the page makes the connection (rtcHost); messages and bytes cross as
// transferred buffers. handle(data) takes the page's 'rtc' messages (true for those).
export function workerRtc(post) {
  let nextId = 1;
  const waiting = new Map(); // id -> { resolve, reject } of the step under way
  const channels = new Map(); // id -> the channel's socket
  const step = (id) => new Promise((resolve, reject) => waiting.set(id, { resolve, reject }));
  const rtc = {
    async open({ iceServers }) {
      const id = nextId++;
      const offered = step(id);
      post({ type: 'rtc', op: 'open', id, iceServers });
      const offer = await offered;
      return {
        offer,
        async accept(answer) {
          const opened = step(id);
          post({ type: 'rtc', op: 'answer', id, sdp: answer });
          await opened;
          let receiver = null;
          const early = []; // bytes that came before anyone listened
          const socket = {
            binaryType: 'arraybuffer',
            set onmessage(f) {
              receiver = f;
              while (f && early.length) f({ data: early.shift() });
            },
            get onmessage() {
              return receiver ? receiver : (e) => early.push(e.data);
            },
            onclose: null,
            bufferedAmount: 0, // the page holds what is in flight
            send(bytes) {
              const copy = bytes.slice();
              post({ type: 'rtc', op: 'send', id, buffer: copy.buffer, offset: 0, length: copy.length }, [copy.buffer]);
            },
            close() {
              channels.delete(id);
              post({ type: 'rtc', op: 'close', id });
            },
          };
          channels.set(id, socket);
          return socket;
        },
        close: () => post({ type: 'rtc', op: 'close', id }),
      };
    },
  };
  const handle = (data) => {
    if (data.type !== 'rtc') return false;
    const { id } = data;
    const w = waiting.get(id);
    if (data.op === 'offer' && w) {
      waiting.delete(id);
      w.resolve(data.sdp);
    } else if (data.op === 'open' && w) {
      waiting.delete(id);
      w.resolve();
    } else if (data.op === 'failed' && w) {
      waiting.delete(id);
      w.reject(new ProtocolError('no_path', data.message));
    } else if (data.op === 'data') {
      const s = channels.get(id);
      if (s) s.onmessage({ data: data.buffer });
    } else if (data.op === 'closed') {
      const s = channels.get(id);
      channels.delete(id);
      if (s && s.onclose) s.onclose({ code: 1000, reason: '' });
    }
    return true;
  };
  return { rtc, handle };
}
