#include "proto/relay_hello.hpp"

#include <algorithm>
#include <cstdio>

namespace ferry::proto {

Bytes encode(const RelayHello& h) {
  Bytes out(kRelayMagic.begin(), kRelayMagic.end());
  out.push_back(kRelayVersion);
  out.push_back(h.side == Side::sender ? 'S' : 'R');
  append(out, h.grant);
  return out;
}

Result<RelayHello> decode_relay_hello(ByteView b) {
  if (b.size() != kRelayHelloBytes ||
      !std::equal(kRelayMagic.begin(), kRelayMagic.end(), b.begin()) || b[4] != kRelayVersion ||
      (b[5] != 'S' && b[5] != 'R')) {
    return fail(Errc::protocol, "malformed relay hello");
  }
  RelayHello h;
  h.side = b[5] == 'S' ? Side::sender : Side::receiver;
  std::copy(b.begin() + 6, b.end(), h.grant.begin());
  return h;
}

std::string_view relay_status_text(RelayStatus s) {
  switch (s) {
    case RelayStatus::paired:
      return "paired";
    case RelayStatus::unknown_grant:
      return "the relay already paired this session (a grant is good for one pair)";
    case RelayStatus::side_taken:
      return "another connection already holds this side of the session";
    case RelayStatus::timeout:
      return "the peer did not reach the relay in time";
    case RelayStatus::malformed:
      return "the relay did not understand the request (is this ferry up to date?)";
    case RelayStatus::limit:
      return "the relay is at one of its limits";
    case RelayStatus::waiting:
      return "waiting for the peer";
    case RelayStatus::expired:
      return "the relay grant expired; start the transfer again";
    case RelayStatus::forged:
      return "the relay does not accept this grant (it was not issued by its rendezvous server)";
    case RelayStatus::shutdown:
      return "the relay is shutting down";
    case RelayStatus::challenge:
      return "the relay asks to see that the client receives at its address";
  }
  return "the relay answered with an unknown status (is this ferry up to date?)";
}

std::string size_text(std::uint64_t bytes) {
  std::array<char, 32> buf{};
  if (bytes >= (std::uint64_t{1} << 30)) {
    std::snprintf(buf.data(), buf.size(), "%.1f GiB", static_cast<double>(bytes) / (1 << 30));
  } else if (bytes >= (std::uint64_t{1} << 20)) {
    std::snprintf(buf.data(), buf.size(), "%.1f MiB", static_cast<double>(bytes) / (1 << 20));
  } else {
    std::snprintf(buf.data(), buf.size(), "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return buf.data();
}

std::string relay_limit_text(const RelayLimit& limit) {
  const std::string n = std::to_string(limit.value);
  switch (limit.kind) {
    case RelayLimitKind::bytes:
      return "the relay ended this transfer: it reached the relay's limit of " +
             size_text(limit.value) + " per transfer";
    case RelayLimitKind::duration:
      return "the relay ended this transfer: it ran longer than the relay allows (" + n +
             " s per transfer)";
    case RelayLimitKind::per_address:
      return "too many relayed transfers from your address at once (the relay allows " + n +
             "); let some finish first";
    case RelayLimitKind::connect_rate:
      return "too many relay connections from your address in the last minute; wait a minute "
             "and try again";
    case RelayLimitKind::ended:
      return "the relay already ended this transfer at one of its limits";
    case RelayLimitKind::unknown:
      break;
  }
  return std::string(relay_status_text(RelayStatus::limit));
}

Error relay_status_error(std::uint8_t status, std::string_view where, std::string_view text) {
  const auto s = static_cast<RelayStatus>(status);
  const std::string said = text.empty() ? std::string(relay_status_text(s)) : std::string(text);
  const Errc code = s == RelayStatus::limit     ? Errc::relay_limit
                    : s == RelayStatus::timeout ? Errc::no_path
                                                : Errc::relay_refused;
  return {code, "relay at " + std::string(where) + ": " + said};
}

std::array<std::uint8_t, kRelayFrameHeaderBytes> encode_relay_data_header(std::uint32_t length) {
  return {static_cast<std::uint8_t>(length >> 24), static_cast<std::uint8_t>(length >> 16),
          static_cast<std::uint8_t>(length >> 8), static_cast<std::uint8_t>(length)};
}

Bytes encode_relay_end(RelayStatus status, std::string_view text) {
  text = text.substr(0, kRelayMaxEndText - 1);
  Bytes out;
  append_u32(out, 0x8000'0000U | static_cast<std::uint32_t>(text.size() + 1));
  out.push_back(static_cast<std::uint8_t>(status));
  append(out, as_bytes(text));
  return out;
}

Result<RelayFrameHeader> decode_relay_frame_header(const std::uint8_t* p) {
  const std::uint32_t v = read_u32(p);
  RelayFrameHeader h{(v & 0x8000'0000U) != 0, v & 0x7fff'ffffU};
  if (h.end ? (h.length == 0 || h.length > kRelayMaxEndText)
            : (h.length == 0 || h.length > kRelayMaxFrame)) {
    return fail(Errc::protocol, "the relay sent a malformed frame");
  }
  return h;
}

Error decode_relay_end(ByteView body, std::string_view where) {
  if (body.empty()) return relay_status_error(static_cast<std::uint8_t>(RelayStatus::limit), where);
  std::string text;
  for (const std::uint8_t c : body.subspan(1))
    text.push_back(c >= 0x20 && c != 0x7f ? static_cast<char>(c) : '?');
  return relay_status_error(body[0], where, text);
}

}  // namespace ferry::proto
