// Wide TCP: one pipe over several TCP connections to the same peer (docs/protocol.md, "Wide
// TCP"). On a long path one connection's rate is capped by its kernel buffers, which an
// unprivileged process cannot raise; several connections together move what one cannot.
//  - Each member connection opens with a preamble in place of the record layer's stream header
//    (the same 24 bytes): magic "ferryW" || token (16 random bytes, the same on every member of
//    one pipe) || index || count (2..8). The side that dialled sends it; the side that accepted
//    waits until all count members are there and makes them one stream.
//  - From then on each side's bytes travel in frames: offset (u64, of the frame's first byte in
//    the side's stream) || length (u32, 1..64 KiB) || bytes. Each frame goes on whichever member
//    has room; the far end puts the frames back in order (Reassembler).
// The frames are not authenticated here: the record layer on top authenticates every byte, and
// a frame that overlaps another is refused. Sans-I/O.
#pragma once

#include <array>
#include <cstdint>
#include <deque>
#include <map>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto::stripe {

inline constexpr std::size_t kPreambleBytes = 24;
inline constexpr std::size_t kTokenBytes = 16;
inline constexpr std::uint8_t kMaxMembers = 8;
inline constexpr std::size_t kFrameHeaderBytes = 12;
inline constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;

struct Preamble {
  std::array<std::uint8_t, kTokenBytes> token{};
  std::uint8_t index = 0;
  std::uint8_t count = 0;
};

std::array<std::uint8_t, kPreambleBytes> encode(const Preamble& p);
// Whether a connection's first bytes (at least 6) are a member's preamble rather than a stream
// header (24 random bytes: the same first 6 by chance once in 2^48).
bool is_preamble(ByteView first);
Result<Preamble> decode_preamble(ByteView bytes);

struct FrameHeader {
  std::uint64_t offset = 0;
  std::uint32_t length = 0;
};
std::array<std::uint8_t, kFrameHeaderBytes> encode(const FrameHeader& h);
// Refuses an empty or oversized frame, or one whose end would pass 2^62.
Result<FrameHeader> decode_frame_header(const std::uint8_t* bytes);

// The receiving end's frames, back in order, within a memory bound: bytes held (in order and
// not read yet, or out of order) stay under limit, except that the frame the stream waits for is
// always admitted once the reader has taken what was ready.
class Reassembler {
 public:
  explicit Reassembler(std::size_t limit) : limit_(limit) {}
  // Whether a frame at offset may be added now; otherwise its member waits (and stops reading).
  bool admits(std::uint64_t offset) const;
  // A frame that starts before what was already put in order, or overlaps a frame held, is
  // refused (the peer is broken or hostile).
  Result<void> add(std::uint64_t offset, Bytes bytes);
  // Bytes in order, ready to read.
  std::size_t ready() const { return ready_bytes_; }
  // Copies up to n bytes in order to out; returns how many.
  std::size_t take(std::uint8_t* out, std::size_t n);
  // Frames held out of order (a gap before them): at the stream's end, a truncation.
  bool gaps() const { return !held_.empty(); }
  std::size_t held_bytes() const { return held_bytes_; }

 private:
  std::size_t limit_;
  std::uint64_t next_ = 0;  // the offset of the first byte not in order yet
  std::deque<Bytes> ready_;
  std::size_t ready_front_ = 0;  // bytes of ready_.front() already taken
  std::size_t ready_bytes_ = 0;
  std::map<std::uint64_t, Bytes> held_;
  std::size_t held_bytes_ = 0;
};

}  // namespace ferry::proto::stripe
