#include "proto/relay_udp.hpp"

#include <algorithm>

namespace ferry::proto {

Bytes encode(const RelayBind& b) {
  const auto& magic = b.unbind ? kRelayUnbindMagic : kRelayBindMagic;
  Bytes out(magic.begin(), magic.end());
  out.push_back(kRelayUdpVersion);
  out.push_back(b.side == Side::sender ? 'S' : 'R');
  append(out, b.grant);
  append(out, b.cookie);
  return out;
}

Result<RelayBind> decode_relay_bind(ByteView d) {
  if (!is_relay_bind(d) || d[4] != kRelayUdpVersion || (d[5] != 'S' && d[5] != 'R')) {
    return fail(Errc::protocol, "malformed relay bind");
  }
  RelayBind b;
  b.unbind = d[3] == kRelayUnbindMagic[3];
  b.side = d[5] == 'S' ? Side::sender : Side::receiver;
  const auto grant = d.begin() + 6;
  std::copy(grant, grant + kRelayGrantBytes, b.grant.begin());
  std::copy(grant + kRelayGrantBytes, d.end(), b.cookie.begin());
  return b;
}

Bytes encode(const RelayAnswer& a) {
  Bytes out(kRelayAnswerMagic.begin(), kRelayAnswerMagic.end());
  out.push_back(static_cast<std::uint8_t>(a.status));
  if (a.status != RelayStatus::limit) {
    append(out, a.cookie);
    return out;
  }
  out.push_back(static_cast<std::uint8_t>(a.limit.kind));
  append_u64(out, a.limit.value);
  out.resize(kRelayAnswerBytes, 0);
  return out;
}

Result<RelayAnswer> decode_relay_answer(ByteView d) {
  if (d.size() != kRelayAnswerBytes ||
      !std::equal(kRelayAnswerMagic.begin(), kRelayAnswerMagic.end(), d.begin())) {
    return fail(Errc::protocol, "malformed relay answer");
  }
  RelayAnswer a;
  a.status = static_cast<RelayStatus>(d[4]);
  std::copy(d.begin() + 5, d.end(), a.cookie.begin());
  if (a.status == RelayStatus::limit && d[5] <= static_cast<std::uint8_t>(RelayLimitKind::ended)) {
    // (An older relay sends zeros: unknown, and the general sentence.)
    a.limit = {static_cast<RelayLimitKind>(d[5]), read_u64(d.data() + 6)};
  }
  return a;
}

Error relay_answer_error(const RelayAnswer& a, std::string_view where) {
  const bool named = a.status == RelayStatus::limit && a.limit.kind != RelayLimitKind::unknown;
  return relay_status_error(static_cast<std::uint8_t>(a.status), where,
                            named ? relay_limit_text(a.limit) : std::string());
}

}  // namespace ferry::proto
