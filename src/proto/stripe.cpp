#include "proto/stripe.hpp"

#include <algorithm>
#include <cstring>

namespace ferry::proto::stripe {

namespace {
constexpr std::array<std::uint8_t, 6> kMagic = {'f', 'e', 'r', 'r', 'y', 'W'};
constexpr std::uint64_t kMaxOffset = std::uint64_t{1} << 62;
}  // namespace

std::array<std::uint8_t, kPreambleBytes> encode(const Preamble& p) {
  std::array<std::uint8_t, kPreambleBytes> out{};
  std::copy(kMagic.begin(), kMagic.end(), out.begin());
  std::copy(p.token.begin(), p.token.end(), out.begin() + kMagic.size());
  out[kPreambleBytes - 2] = p.index;
  out[kPreambleBytes - 1] = p.count;
  return out;
}

bool is_preamble(ByteView first) {
  return first.size() >= kMagic.size() && std::equal(kMagic.begin(), kMagic.end(), first.begin());
}

Result<Preamble> decode_preamble(ByteView bytes) {
  if (bytes.size() != kPreambleBytes || !is_preamble(bytes)) {
    return fail(Errc::protocol, "not a wide TCP member's preamble");
  }
  Preamble p;
  std::copy_n(bytes.begin() + kMagic.size(), kTokenBytes, p.token.begin());
  p.index = bytes[kPreambleBytes - 2];
  p.count = bytes[kPreambleBytes - 1];
  if (p.count < 2 || p.count > kMaxMembers || p.index >= p.count) {
    return fail(Errc::protocol, "a wide TCP member's preamble counts " + std::to_string(p.count) +
                                    " members (index " + std::to_string(p.index) + ")");
  }
  return p;
}

std::array<std::uint8_t, kFrameHeaderBytes> encode(const FrameHeader& h) {
  Bytes b;
  append_u64(b, h.offset);
  append_u32(b, h.length);
  std::array<std::uint8_t, kFrameHeaderBytes> out{};
  std::copy(b.begin(), b.end(), out.begin());
  return out;
}

Result<FrameHeader> decode_frame_header(const std::uint8_t* bytes) {
  const FrameHeader h{read_u64(bytes), read_u32(bytes + 8)};
  if (h.length == 0 || h.length > kMaxFrameBytes) {
    return fail(Errc::protocol, "a wide TCP frame of " + std::to_string(h.length) + " bytes");
  }
  if (h.offset > kMaxOffset - h.length) {
    return fail(Errc::protocol, "a wide TCP frame beyond 2^62 bytes");
  }
  return h;
}

bool Reassembler::admits(std::uint64_t offset) const {
  if (offset == next_ && ready_bytes_ == 0) return true;  // what the stream waits for
  return cost_ < limit_;
}

Result<void> Reassembler::add(std::uint64_t offset, Bytes bytes) {
  const std::uint64_t end = offset + bytes.size();
  if (bytes.empty() || offset < next_) {
    return fail(Errc::protocol, "a wide TCP frame repeats bytes already received");
  }
  auto after = held_.lower_bound(offset);
  if (after != held_.end() && after->first < end) {
    return fail(Errc::protocol, "two wide TCP frames overlap");
  }
  if (after != held_.begin()) {
    const auto& [start, data] = *std::prev(after);
    if (start + data.size() > offset) return fail(Errc::protocol, "two wide TCP frames overlap");
  }
  cost_ += bytes.size() + kHeldFrameCost;
  if (offset != next_) {
    held_bytes_ += bytes.size();
    held_.emplace(offset, std::move(bytes));
    return {};
  }
  next_ = end;
  ready_bytes_ += bytes.size();
  ready_.push_back(std::move(bytes));
  // What waited for this frame follows it.
  for (auto it = held_.begin(); it != held_.end() && it->first == next_; it = held_.erase(it)) {
    next_ += it->second.size();
    held_bytes_ -= it->second.size();
    ready_bytes_ += it->second.size();
    ready_.push_back(std::move(it->second));
  }
  return {};
}

std::size_t Reassembler::take(std::uint8_t* out, std::size_t n) {
  std::size_t got = 0;
  while (got < n && !ready_.empty()) {
    const Bytes& front = ready_.front();
    const std::size_t k = std::min(n - got, front.size() - ready_front_);
    std::memcpy(out + got, front.data() + ready_front_, k);
    got += k;
    ready_front_ += k;
    if (ready_front_ == front.size()) {
      cost_ -= front.size() + kHeldFrameCost;
      ready_.pop_front();
      ready_front_ = 0;
    }
  }
  ready_bytes_ -= got;
  return got;
}

}  // namespace ferry::proto::stripe
