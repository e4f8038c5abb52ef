// A WebRTC data channel to a browser, answering its offer: ICE by Debian's libnice (connectivity
// checks with the browser, STUN to `ferry serve` for this side's public address), DTLS 1.2 by
// OpenSSL with a fresh certificate whose fingerprint goes in the answer and a peer certificate
// that must match the fingerprint the offer named, and SCTP by Debian's usrsctp over the DTLS
// records (RFC 8261). The channel is negotiated out of band (both sides open stream 0, no DCEP):
// its binary messages become one byte stream, on which ferry's record layer runs as on any other
// pipe. Both descriptions travel sealed under the session keys, so a server that forwards them can
// neither read nor replace a fingerprint.
//
// Threads: libnice runs its own GLib main loop thread, usrsctp its timer thread; both only post
// to the executor, and every DTLS operation takes one lock. ByteStream calls come from the
// executor.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "net/byte_stream.hpp"
#include "proto/webrtc_sdp.hpp"

namespace ferry::net::webrtc {

struct Options {
  // ferry serve's STUN (libnice asks one server): host address and port; empty host: none.
  std::string stun_host;
  std::uint16_t stun_port = 0;
  // Whether this side may send connectivity checks to a candidate of the offer; when not, *why.
  std::function<bool(const proto::webrtc::IceCandidate&, std::string* why)> allow;
};

class Answerer {
 public:
  // The certificate and the agent; nothing is sent yet.
  static proto::Result<std::shared_ptr<Answerer>> create(const asio::any_io_executor& ex,
                                                         Options options);
  ~Answerer();
  Answerer(const Answerer&) = delete;
  Answerer& operator=(const Answerer&) = delete;

  // Starts gathering this side's candidates (host ones at once, the public one from STUN), so
  // they are there when the offer comes; budget: how long the answer waits for them, from now.
  // answer() starts it where nobody did.
  proto::Result<void> gather(std::chrono::milliseconds budget);
  // Takes the browser's offer and waits for the candidates (until gathering is done or its
  // budget is spent, then what was found); returns the answer's text. Candidates the scope rules
  // out are left out of the checks and named in notes().
  awaitable<proto::Result<std::string>> answer(const proto::webrtc::Description& offer,
                                               std::chrono::milliseconds budget);
  // Waits until the channel is usable (ICE connected, DTLS done with the pinned certificate,
  // the SCTP association up), within budget. Once only; the stream owns the connection.
  awaitable<proto::Result<std::unique_ptr<ByteStream>>> channel(std::chrono::milliseconds budget);

  // What was left out and why (for the race's report).
  std::vector<std::string> notes() const;
  // Ends everything (also when the stream, once taken, is closed).
  void close();

  struct Core;

 private:
  explicit Answerer(std::shared_ptr<Core> core);
  std::shared_ptr<Core> core_;
};

}  // namespace ferry::net::webrtc
