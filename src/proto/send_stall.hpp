// When a TCP connection's sending has stalled in a way the host can repair by itself: the kernel
// retransmitted on a timeout and nothing was acknowledged since. The common cause on paths that
// carried the small packets of a handshake and then nothing is a PMTU black hole: a link narrower
// than ours whose router's "fragmentation needed" answer a firewall drops, so full-sized packets
// vanish while small ones pass. An IPv4 connection then lets routers fragment its packets (the
// "don't fragment" bit cleared), which carries them through. A connection that still has nothing
// acknowledged long after is given up: the path is gone (an address that changed, a NAT that
// forgot), and the kernel alone would retry for a quarter of an hour. A peer that only stopped
// reading (a full window) has nothing in flight, and is never given up here. Sans-I/O: samples
// of what the kernel says (TCP_INFO) in, what to do out.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>

#include "proto/error.hpp"

namespace ferry::proto {

// One look at a connection's sending (Linux's tcp_info; QUIC's stream offsets).
struct SendSample {
  std::uint64_t bytes_acked = 0;  // tcpi_bytes_acked: acknowledged so far
  std::uint32_t unacked = 0;      // tcpi_unacked: segments in flight
  std::uint8_t timeouts = 0;      // tcpi_retransmits: retransmission timeouts since the last ack
};

class SendStall {
 public:
  enum class Action : std::uint8_t {
    none,
    allow_fragments,  // let routers fragment this connection's packets (IPv4)
    give_up,          // end the connection: nothing moves
  };
  // How long segments may wait in flight with nothing acknowledged before the connection is
  // given up: beyond any round trip, and beyond the kernel's retransmission backoff's first steps.
  static constexpr std::chrono::seconds kGiveUp{15};
  // Where routers may not fragment (IPv6), nothing repairs a black hole in place: a connection
  // with nothing acknowledged after this many retransmission timeouts in a row (about 1.4 s on a
  // short path) is given up at once, as one, and the next connection asks for segments that fit
  // (PathPolicy::tcp_mss). A loss burst is repaired by the first retransmission or two.
  static constexpr std::uint8_t kBlackHoleTimeouts = 3;
  // The connection's packets cannot be fragmented (IPv6, or the kernel refused): told after
  // allow_fragments.
  void fragments_refused() { refused_ = true; }
  // A sample taken now; the first only sets the baseline.
  Action observe(const SendSample& s, std::chrono::steady_clock::time_point now);
  // Whether allow_fragments was said (once per connection).
  bool fragments_allowed() const { return allowed_; }
  // Whether give_up was said; and whether as a suspected PMTU black hole (kBlackHoleTimeouts).
  bool given_up() const { return given_up_; }
  bool black_hole() const { return black_hole_; }
  // How long nothing was acknowledged while segments were in flight (zero when moving).
  std::chrono::steady_clock::duration stalled_for(std::chrono::steady_clock::time_point now) const;

 private:
  bool seen_ = false;
  bool allowed_ = false;
  bool given_up_ = false;
  bool refused_ = false;
  bool black_hole_ = false;
  std::uint64_t acked_ = 0;
  std::chrono::steady_clock::time_point moving_{};  // last sample with progress or nothing out
};

// What a given-up connection tells the person: what ("the connection (direct to …)", "the QUIC
// path") stopped moving data, and why it was given up (Error::black_hole when as one).
Error stall_error(const std::string& what, bool black_hole = false);

}  // namespace ferry::proto
