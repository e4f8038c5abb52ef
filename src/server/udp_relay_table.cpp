#include <sodium.h>

#include <algorithm>

#include "server/server_log.hpp"
#include "server/udp_relay.hpp"

namespace ferry::server {

using proto::RelayStatus;

namespace {
// Answers (challenges, refusals) per address group and in all: each is smaller than the bind that
// earned it, and a flood of forged binds earns at most this many.
constexpr RateBuckets::Limits kAnswerRate{20, 40, 20'000, 100'000};
// The largest datagram forwarded: QUIC's packets fit a 1500-byte path (ngtcp2 sends at most 1452
// bytes of UDP payload); anything bigger is no QUIC packet of ours.
constexpr std::size_t kMaxForwarded = 1500;

// The address's bytes, an IPv4 client on a dual-stack socket as IPv4.
void append_address(proto::Bytes& out, const boost::asio::ip::address& a) {
  if (a.is_v6() && a.to_v6().is_v4_mapped()) {
    return append_address(out,
                          boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, a.to_v6()));
  }
  if (a.is_v4()) {
    const auto b = a.to_v4().to_bytes();
    out.insert(out.end(), b.begin(), b.end());
  } else {
    const auto b = a.to_v6().to_bytes();
    out.insert(out.end(), b.begin(), b.end());
  }
}
}  // namespace

UdpRelayTable::UdpRelayTable(RelayLimits limits, proto::RelayKey key)
    : limits_(limits), key_(key), binds_(limits.connects_per_minute), answers_(kAnswerRate) {
  randombytes_buf(cookie_key_.data(), cookie_key_.size());
}

proto::RelayCookie UdpRelayTable::cookie(const Endpoint& from, const proto::RelaySessionId& id,
                                         int side, std::uint64_t minute) const {
  proto::Bytes in;
  proto::append_u64(in, minute);
  in.push_back(static_cast<std::uint8_t>(side));
  proto::append(in, id);
  append_address(in, from.address());
  in.push_back(static_cast<std::uint8_t>(from.port() >> 8));
  in.push_back(static_cast<std::uint8_t>(from.port()));
  proto::RelayCookie out{};
  crypto_generichash(out.data(), out.size(), in.data(), in.size(), cookie_key_.data(),
                     cookie_key_.size());
  return out;
}

UdpRelayTable::Answer UdpRelayTable::answer(const Endpoint& to, RelayStatus status,
                                            proto::RelayCookie c) const {
  return {to, proto::encode(proto::RelayAnswer{status, c, {}}), -1};
}

UdpRelayTable::Answer UdpRelayTable::limit_answer(const Endpoint& to,
                                                  proto::RelayLimitKind kind) const {
  const std::uint64_t value = kind == proto::RelayLimitKind::bytes ? limits_.max_bytes
                              : kind == proto::RelayLimitKind::duration
                                  ? static_cast<std::uint64_t>(limits_.max_duration.count())
                              : kind == proto::RelayLimitKind::per_address ? limits_.per_address
                              : kind == proto::RelayLimitKind::connect_rate
                                  ? limits_.connects_per_minute
                                  : 0;
  return {to, proto::encode(proto::RelayAnswer{RelayStatus::limit, {}, {kind, value}}), -1};
}

bool UdpRelayTable::refuse(const std::string& reason) {
  ++stats_.refused[reason];
  return true;
}

std::size_t UdpRelayTable::forwarding(Clock::time_point now) const {
  return static_cast<std::size_t>(
      std::count_if(sessions_.begin(), sessions_.end(), [&](const auto& kv) {
        const Session& s = kv.second;
        return !s.ended && s.sides[0] && s.sides[1] &&
               (now - s.sides[0]->last < kBusy || now - s.sides[1]->last < kBusy);
      }));
}

std::optional<std::pair<proto::RelaySessionId, int>> UdpRelayTable::side_of(
    const Endpoint& e) const {
  const auto it = bound_.find(e);
  if (it == bound_.end()) return std::nullopt;
  return it->second;
}

void UdpRelayTable::unbind(Session& s, int side) {
  auto& b = s.sides[side];
  if (!b) return;
  bound_.erase(b->at);
  if (auto it = per_group_.find(b->group); it != per_group_.end() && --it->second == 0) {
    per_group_.erase(it);
  }
  --stats_.bound;
  if (s.paired_at && !s.ended && s.sides[1 - side]) --stats_.active;
  b.reset();
}

void UdpRelayTable::end(Session& s, proto::RelayLimitKind kind, const std::string& reason,
                        std::vector<Answer>& out) {
  if (s.ended) return;
  ++stats_.ended[reason];
  log_event(spdlog::level::info, "relay_udp_ended", {{"reason", reason}});
  for (int i = 0; i < 2; ++i) {
    if (s.sides[i]) out.push_back({s.sides[i]->at, limit_answer(s.sides[i]->at, kind).bytes, i});
  }
  unbind(s, 0);
  unbind(s, 1);
  s.ended = reason;
}

UdpRelayTable::Verdict UdpRelayTable::on_datagram(Clock::time_point now, std::uint64_t unix_now,
                                                  const Endpoint& from, const std::string& group,
                                                  proto::ByteView d) {
  if (!proto::is_relay_bind(d) && bound_.contains(from)) return forward(now, from, d);
  Verdict v = bind(now, unix_now, from, group, d);
  // Every answer to the client that sent the bind counts against its address's answer budget.
  std::erase_if(v.answers, [&](const Answer& a) {
    if (a.side >= 0) return false;  // to a bound side: its own binds paid for it
    return answers_.take(group, now) != RateBuckets::Verdict::allow;
  });
  return v;
}

UdpRelayTable::Verdict UdpRelayTable::bind(Clock::time_point now, std::uint64_t unix_now,
                                           const Endpoint& from, const std::string& group,
                                           proto::ByteView d) {
  Verdict v;
  const auto refuse_with = [&](RelayStatus status, const std::string& reason) {
    refuse(reason);
    v.answers.push_back(answer(from, status));
    return v;
  };
  const auto at_limit = [&](proto::RelayLimitKind kind, const std::string& reason) {
    refuse(reason);
    v.answers.push_back(limit_answer(from, kind));
    return v;
  };
  const auto b = proto::decode_relay_bind(d);
  if (!b) {
    ++stats_.dropped;  // neither a bind nor from a bound side: no answer to strangers' noise
    return v;
  }
  if (b->unbind) {
    client_unbind(from, *b);
    return v;  // never answered
  }
  if (proto::is_probe_grant(b->grant)) return refuse_with(RelayStatus::forged, "probe");
  proto::RelayGrant grant;
  switch (proto::check_relay_grant(key_, b->grant, unix_now, grant)) {
    case proto::GrantCheck::ok:
      break;
    case proto::GrantCheck::malformed:
      return refuse_with(RelayStatus::malformed, "malformed");
    case proto::GrantCheck::forged:
      return refuse_with(RelayStatus::forged, "forged");
    case proto::GrantCheck::expired:
      return refuse_with(RelayStatus::expired, "expired");
  }
  const int me = b->side == proto::Side::sender ? 0 : 1;
  const std::uint64_t minute = unix_now / 60;
  if (!proto::equal_ct(b->cookie, cookie(from, grant.session, me, minute)) &&
      !proto::equal_ct(b->cookie, cookie(from, grant.session, me, minute - 1))) {
    // Prove the address first: the answer goes to it, and only its owner can echo the cookie.
    v.answers.push_back(
        answer(from, RelayStatus::challenge, cookie(from, grant.session, me, minute)));
    return v;
  }
  auto [it, fresh] = sessions_.try_emplace(grant.session);
  Session& s = it->second;
  if (fresh) s.expires = grant.expires;
  if (s.ended) return at_limit(proto::RelayLimitKind::ended, "ended");
  auto& mine = s.sides[me];
  if (!mine || mine->at != from) {
    // A new address for this side (the client's NAT moved it, or it is a fresh socket): the
    // newer one holds the side, within the address's limits.
    const auto slots = per_group_.find(group);
    if (slots != per_group_.end() && slots->second >= limits_.per_address) {
      return at_limit(proto::RelayLimitKind::per_address, "address_limit");
    }
    if (!binds_.allow(group, now)) {
      return at_limit(proto::RelayLimitKind::connect_rate, "connect_rate");
    }
    if (const auto other = bound_.find(from); other != bound_.end()) {
      // This address held a side of another session (or the other side of this one): it moves.
      auto o = sessions_.find(other->second.first);
      if (o != sessions_.end()) unbind(o->second, other->second.second);
    }
    unbind(s, me);
    mine = Side{from, group, now};
    bound_[from] = {grant.session, me};
    ++per_group_[group];
    ++stats_.bound;
    if (s.sides[1 - me]) {
      if (!s.paired_at) {
        s.paired_at = now;
        s.refilled = now;
        s.tokens = static_cast<double>(limits_.rate);
        ++stats_.sessions;
        log_event(spdlog::level::info, "relay_udp_paired", {});
      }
      ++stats_.active;
      // The side that waited hears it at once (its own next bind would, later).
      const auto& other = *s.sides[1 - me];
      v.answers.push_back({other.at, answer(other.at, RelayStatus::paired).bytes, 1 - me});
    }
  }
  mine->last = now;
  v.answers.push_back(answer(from, s.sides[1 - me] ? RelayStatus::paired : RelayStatus::waiting));
  v.answers.back().side = me;  // from now on it is a bound side
  return v;
}

void UdpRelayTable::client_unbind(const Endpoint& from, const proto::RelayBind& b) {
  // A transfer may outlast its grant: the grant's MAC is what counts here (expiry 0: none), and
  // only the address bound to that side may unbind it (a forged source does not know the grant).
  proto::RelayGrant grant;
  const auto bound = bound_.find(from);
  const int me = b.side == proto::Side::sender ? 0 : 1;
  if (bound == bound_.end() ||
      proto::check_relay_grant(key_, b.grant, 0, grant) != proto::GrantCheck::ok ||
      bound->second != std::pair{grant.session, me}) {
    ++stats_.dropped;
    return;
  }
  const auto s = sessions_.find(grant.session);
  if (s == sessions_.end()) return;
  unbind(s->second, me);
  ++stats_.unbound;
}

UdpRelayTable::Verdict UdpRelayTable::forward(Clock::time_point now, const Endpoint& from,
                                              proto::ByteView d) {
  Verdict v;
  const auto it = bound_.find(from);
  if (it == bound_.end() || d.size() > kMaxForwarded) {
    ++stats_.dropped;
    return v;
  }
  auto sit = sessions_.find(it->second.first);
  Session& s = sit->second;
  const int me = it->second.second;
  s.sides[me]->last = now;
  if (!s.sides[1 - me]) {
    ++stats_.dropped;  // the peer is not bound (yet, or any more)
    return v;
  }
  const double n = static_cast<double>(d.size());
  if (limits_.rate > 0) {
    const double rate = static_cast<double>(limits_.rate);
    s.tokens =
        std::min(rate, s.tokens + std::chrono::duration<double>(now - s.refilled).count() * rate);
    s.refilled = now;
    if (s.tokens < n) {
      ++stats_.dropped;
      return v;
    }
    s.tokens -= n;
  }
  if (limits_.bandwidth > 0) {
    const double rate = static_cast<double>(limits_.bandwidth);
    bandwidth_tokens_ =
        std::min(rate, bandwidth_tokens_ +
                           std::chrono::duration<double>(now - bandwidth_refilled_).count() * rate);
    bandwidth_refilled_ = now;
    if (bandwidth_tokens_ < n) {
      ++stats_.dropped;
      return v;
    }
    bandwidth_tokens_ -= n;
  }
  s.bytes += d.size();
  stats_.bytes += d.size();
  if (limits_.max_bytes > 0 && s.bytes > limits_.max_bytes) {
    end(s, proto::RelayLimitKind::bytes, "bytes", v.answers);
    return v;
  }
  v.forward_to = s.sides[1 - me]->at;
  v.forward_side = 1 - me;
  return v;
}

std::vector<UdpRelayTable::Answer> UdpRelayTable::sweep(Clock::time_point now,
                                                        std::uint64_t unix_now) {
  std::vector<Answer> out;
  for (auto it = sessions_.begin(); it != sessions_.end();) {
    Session& s = it->second;
    if (!s.ended && s.paired_at && limits_.max_duration.count() > 0 &&
        now - *s.paired_at >= limits_.max_duration) {
      end(s, proto::RelayLimitKind::duration, "duration", out);
    }
    for (int i = 0; i < 2; ++i) {
      if (s.sides[i] && now - s.sides[i]->last >= kIdle) unbind(s, i);
    }
    const bool empty = !s.sides[0] && !s.sides[1];
    it = empty && s.expires <= unix_now ? sessions_.erase(it) : std::next(it);
  }
  return out;
}

}  // namespace ferry::server
