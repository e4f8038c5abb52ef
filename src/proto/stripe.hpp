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

#include <algorithm>
#include <array>
#include <chrono>
#include <cstdint>
#include <deque>
#include <map>
#include <optional>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto::stripe {

inline constexpr std::size_t kPreambleBytes = 24;
inline constexpr std::size_t kTokenBytes = 16;
inline constexpr std::uint8_t kMaxMembers = 8;
inline constexpr std::size_t kFrameHeaderBytes = 12;
inline constexpr std::size_t kMaxFrameBytes = std::size_t{64} * 1024;
// How long the accepting side waits for a group's members, from its first one's arrival.
inline constexpr std::chrono::seconds kGatherWait{5};

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

// What one held frame costs beyond its bytes: its vector, its heap block's header and a map
// node (g++ 12, 64-bit: 24 + 16 + 48 + 8 = 96, rounded up). A peer sending one-byte frames out of
// order pays this for each.
inline constexpr std::size_t kHeldFrameCost = 128;

// The receiving end's frames, back in order, within a memory bound: what the frames held (in
// order and not read yet, or out of order) cost, their bytes and kHeldFrameCost each, stays
// under limit, except that the frame the stream waits for is always admitted once the reader has
// taken what was ready.
class Reassembler {
 public:
  explicit Reassembler(std::size_t limit) : limit_(limit) {}
  // A new bound, for frames admitted from now on (a peer that proved itself may have more).
  void set_limit(std::size_t limit) { limit_ = limit; }
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
  // What the frames held cost in memory (their bytes and kHeldFrameCost each).
  std::size_t cost() const { return cost_; }

 private:
  std::size_t limit_;
  std::size_t cost_ = 0;
  std::uint64_t next_ = 0;  // the offset of the first byte not in order yet
  std::deque<Bytes> ready_;
  std::size_t ready_front_ = 0;  // bytes of ready_.front() already taken
  std::size_t ready_bytes_ = 0;
  std::map<std::uint64_t, Bytes> held_;
  std::size_t held_bytes_ = 0;
};

// The accepting side's groups being gathered: members by token, until a group has all its count
// members (it is then one pipe) or its kGatherWait is over (it is dropped). A member joins the
// group its token names only from the group's first member's address, with the group's count and
// an index not taken yet; otherwise it is refused (closed). Member is what the caller keeps of a
// connection (its socket), Address where it came from; each group carries the caller's tag of
// its first member (the race's attempt, which becomes the pipe's).
template <typename Member, typename Address>
class Gathering {
 public:
  using Clock = std::chrono::steady_clock;
  using Token = std::array<std::uint8_t, kTokenBytes>;
  enum class Verdict : std::uint8_t {
    first,     // a new group: it waits for its other members
    joined,    // one more member of a group still waiting
    complete,  // the last member: members hold the group's, by index
    refused,   // fits no group (its Member is dropped)
  };
  struct Added {
    Verdict verdict = Verdict::refused;
    std::uint32_t tag = 0;        // the group's (joined, complete)
    std::vector<Member> members;  // complete
  };
  struct Dropped {
    std::uint32_t tag = 0;
    Address from{};
    std::size_t arrived = 0;
    std::size_t count = 0;
  };

  Added add(const Preamble& p, const Address& from, Member m, std::uint32_t tag,
            Clock::time_point now) {
    if (p.count < 2 || p.count > kMaxMembers || p.index >= p.count) return {};
    auto [it, fresh] = groups_.try_emplace(p.token);
    Group& g = it->second;
    if (fresh) {
      g.members.resize(p.count);
      g.from = from;
      g.tag = tag;
      g.deadline = now + kGatherWait;
    } else if (g.members.size() != p.count || g.from != from || g.members[p.index]) {
      return {};
    }
    g.members[p.index].emplace(std::move(m));
    if (++g.arrived < p.count) return {fresh ? Verdict::first : Verdict::joined, g.tag, {}};
    Added done{Verdict::complete, g.tag, {}};
    done.members.reserve(g.members.size());
    for (auto& member : g.members) done.members.push_back(std::move(*member));
    groups_.erase(it);
    return done;
  }

  // Drops the groups whose wait is over at now.
  std::vector<Dropped> expire(Clock::time_point now) {
    std::vector<Dropped> out;
    for (auto it = groups_.begin(); it != groups_.end();) {
      if (now < it->second.deadline) {
        ++it;
        continue;
      }
      out.push_back(
          {it->second.tag, it->second.from, it->second.arrived, it->second.members.size()});
      it = groups_.erase(it);
    }
    return out;
  }
  // When the next group's wait is over (none: no group waits).
  std::optional<Clock::time_point> next_deadline() const {
    std::optional<Clock::time_point> t;
    for (const auto& [_, g] : groups_) t = t ? std::min(*t, g.deadline) : g.deadline;
    return t;
  }
  // Members held, from one address or (nullopt) in all.
  std::size_t held(const std::optional<Address>& from = std::nullopt) const {
    std::size_t n = 0;
    for (const auto& [_, g] : groups_) n += !from || *from == g.from ? g.arrived : 0;
    return n;
  }
  void clear() { groups_.clear(); }

 private:
  struct Group {
    std::vector<std::optional<Member>> members;  // by index; empty until arrived
    std::size_t arrived = 0;
    Address from{};
    std::uint32_t tag = 0;
    Clock::time_point deadline{};
  };
  std::map<Token, Group> groups_;
};

}  // namespace ferry::proto::stripe
