// Who offers the WebRTC data channel and who answers, from each side's candidates note: pages
// offer to whoever answers (a CLI, a send page), a send page answers a receive page, and no pair
// of peers ends with both offering or both waiting.
import { test } from 'node:test';
import assert from 'node:assert/strict';

import { webrtcRole } from '../src/session.js';

test('webrtcRole: a page offers to whoever answers, a send page answers a receive page, two pages never both offer', () => {
  const cli = { features: ['prefix-hash', 'webrtc'] };
  const sendPage = { webrtc_offer: true, features: ['webrtc'] };
  const receivePage = { webrtc_offer: true };
  const oldPeer = { features: ['prefix-hash'] };
  // The receive page (it cannot answer): offers to a CLI sender and to a send page.
  assert.equal(webrtcRole({ side: 'R', rtc: true, answering: false, note: cli }), 'offer');
  assert.equal(webrtcRole({ side: 'R', rtc: true, answering: false, note: sendPage }), 'offer');
  // The send page: offers to a CLI receiver, answers a receive page.
  assert.equal(webrtcRole({ side: 'S', rtc: true, answering: true, note: cli }), 'offer');
  assert.equal(webrtcRole({ side: 'S', rtc: true, answering: true, note: receivePage }), 'answer');
  // Nothing where the peer speaks no WebRTC, or this browser has none.
  assert.equal(webrtcRole({ side: 'S', rtc: true, answering: true, note: oldPeer }), null);
  assert.equal(webrtcRole({ side: 'R', rtc: true, answering: false, note: oldPeer }), null);
  assert.equal(webrtcRole({ side: 'R', rtc: false, answering: false, note: cli }), null);
  // A receiver never answers, even a peer that claims to offer.
  assert.equal(webrtcRole({ side: 'R', rtc: true, answering: true, note: receivePage }), null);
});
