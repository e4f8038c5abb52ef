#include "proto/rendezvous_message.hpp"

#include "proto/relay_grant.hpp"

#include "proto/code.hpp"
#include "proto/peer_message.hpp"
#include "proto/server_url.hpp"

#include <nlohmann/json.hpp>

namespace ferry::proto {

using nlohmann::json;

namespace {

constexpr std::size_t kSessionIdBytes = 16;
constexpr std::size_t kGrantBytes = kRelayGrantBytes;
constexpr std::size_t kMaxErrorText = 512;
constexpr std::size_t kMaxRelayUrl = 512;

Result<json> parse_object(std::string_view text) {
  if (text.size() > kMaxRendezvousFrame) return fail(Errc::protocol, "message too large");
  json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Errc::protocol, "message is not a JSON object");
  if (!j.contains("type") || !j["type"].is_string())
    return fail(Errc::protocol, "message has no type");
  return j;
}

Result<std::string> get_string(const json& j, const char* key, std::size_t max) {
  if (!j.contains(key) || !j[key].is_string()) {
    return fail(Errc::protocol, std::string("message lacks the string field \"") + key + "\"");
  }
  auto s = j[key].get<std::string>();
  if (s.size() > max) return fail(Errc::protocol, std::string("field \"") + key + "\" too long");
  return s;
}

Result<Bytes> get_base64(const json& j, const char* key, std::size_t max) {
  auto s = get_string(j, key, max * 4 / 3 + 4);
  if (!s) return std::unexpected(s.error());
  auto b = from_base64(*s);
  if (!b) return fail(Errc::protocol, std::string("field \"") + key + "\" is not base64");
  return *b;
}

Result<Bytes> get_hex(const json& j, const char* key, std::size_t len) {
  auto s = get_string(j, key, len * 2);
  if (!s) return std::unexpected(s.error());
  auto b = from_hex(*s);
  if (!b || b->size() != len)
    return fail(Errc::protocol, std::string("field \"") + key + "\" malformed");
  return *b;
}

// The optional "observed" address: absent is empty, present must be an IP literal.
Result<std::string> get_observed(const json& j, const char* key = "observed") {
  if (!j.contains(key)) return std::string();
  auto observed = get_string(j, key, 64);
  if (!observed || !is_ip_literal(*observed)) {
    return fail(Errc::protocol, "malformed observed address");
  }
  return *observed;
}

}  // namespace

std::string encode_client(const ClientMessage& m) {
  json j;
  if (const auto* a = std::get_if<rv::Allocate>(&m)) {
    j = {{"type", "allocate"}};
    if (!a->nameplate.empty()) j["nameplate"] = a->nameplate;
    if (!a->resume.empty()) j["resume"] = to_hex(a->resume);
    if (a->receivers != 1) j["receivers"] = a->receivers;
    if (a->next) j["next"] = true;
  } else if (const auto* c = std::get_if<rv::Claim>(&m)) {
    j = {{"type", "claim"}, {"nameplate", c->nameplate}};
    if (c->wait) j["wait"] = true;
  } else {
    j = {{"type", "message"}, {"body", to_base64(std::get<rv::Message>(m).body)}};
  }
  return j.dump();
}

namespace {
// "relay_udp": a UDP port (1-65535); absent: 0.
Result<std::uint16_t> get_relay_udp(const json& j) {
  if (!j.contains("relay_udp")) return std::uint16_t{0};
  const auto& port = j["relay_udp"];
  if (!port.is_number_unsigned() || port.get<unsigned>() == 0 || port.get<unsigned>() > 65535)
    return fail(Errc::protocol, "malformed relay_udp port");
  return static_cast<std::uint16_t>(port.get<unsigned>());
}
}  // namespace

std::string encode_server(const ServerMessage& m) {
  json j;
  if (const auto* w = std::get_if<rv::Welcome>(&m)) {
    j = {{"type", "welcome"}, {"version", w->version}};
    if (!w->stun_ports.empty()) j["stun"] = w->stun_ports;
    if (w->relay_udp != 0) j["relay_udp"] = w->relay_udp;
    if (!w->observed.empty()) j["observed"] = w->observed;
  } else if (const auto* a = std::get_if<rv::Allocated>(&m)) {
    j = {{"type", "allocated"}, {"nameplate", a->nameplate}};
  } else if (const auto* p = std::get_if<rv::Paired>(&m)) {
    j = {{"type", "paired"},
         {"session", to_hex(p->session_id)},
         {"relay_grant", to_hex(p->relay_grant)}};
    if (!p->observed.empty()) j["observed"] = p->observed;
    if (!p->peer_observed.empty()) j["peer_observed"] = p->peer_observed;
    if (!p->relay.empty()) j["relay"] = p->relay;
    if (p->relay_udp != 0) j["relay_udp"] = p->relay_udp;
  } else if (const auto* msg = std::get_if<rv::Message>(&m)) {
    j = {{"type", "message"}, {"body", to_base64(msg->body)}};
  } else if (std::holds_alternative<rv::PeerLeft>(m)) {
    j = {{"type", "peer_left"}};
  } else if (const auto* w = std::get_if<rv::Waiting>(&m)) {
    j = {{"type", "waiting"}};
    if (w->queued) j["queued"] = true;
  } else {
    const auto& e = std::get<rv::ServerError>(m);
    j = {{"type", "error"}, {"code", e.code}, {"message", e.message}};
  }
  return j.dump(-1, ' ', false, json::error_handler_t::replace);
}

Result<ClientMessage> decode_client(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return std::unexpected(j.error());
  const auto type = (*j)["type"].get<std::string>();
  if (type == "allocate") {
    rv::Allocate a;
    if (j->contains("nameplate")) {
      auto n = get_string(*j, "nameplate", 9);
      if (!n || !valid_nameplate(*n)) return fail(Errc::protocol, "invalid nameplate");
      a.nameplate = *n;
    }
    if (j->contains("resume")) {
      auto r = get_hex(*j, "resume", rv::kResumeTokenBytes);
      if (!r) return fail(Errc::protocol, "malformed resume token");
      a.resume = std::move(*r);
    }
    if (j->contains("receivers")) {
      const auto& n = (*j)["receivers"];
      if (!n.is_number_unsigned() || n.get<std::uint64_t>() > rv::kMaxGroupReceivers) {
        return fail(Errc::protocol, "malformed receivers count");
      }
      a.receivers = static_cast<std::uint32_t>(n.get<std::uint64_t>());
    }
    if (j->contains("next")) {
      if (!(*j)["next"].is_boolean()) return fail(Errc::protocol, "malformed next flag");
      a.next = (*j)["next"].get<bool>();
    }
    // Asking for the next receiver names the group: its nameplate and the sender's token.
    if (a.next && (a.nameplate.empty() || a.resume.empty())) {
      return fail(Errc::protocol, "next without a nameplate and resume token");
    }
    return a;
  }
  if (type == "claim") {
    auto n = get_string(*j, "nameplate", 9);
    if (!n || !valid_nameplate(*n)) return fail(Errc::protocol, "invalid nameplate");
    bool wait = false;
    if (j->contains("wait")) {
      if (!(*j)["wait"].is_boolean()) return fail(Errc::protocol, "malformed wait flag");
      wait = (*j)["wait"].get<bool>();
    }
    return rv::Claim{*n, wait};
  }
  if (type == "message") {
    auto b = get_base64(*j, "body", kMaxRendezvousFrame);
    if (!b) return std::unexpected(b.error());
    return rv::Message{std::move(*b)};
  }
  return fail(Errc::protocol, "unknown message type \"" + type.substr(0, 40) + "\"");
}

Result<ServerMessage> decode_server(std::string_view text) {
  auto j = parse_object(text);
  if (!j) return std::unexpected(j.error());
  const auto type = (*j)["type"].get<std::string>();
  if (type == "welcome") {
    if (!j->contains("version") || !(*j)["version"].is_number_integer()) {
      return fail(Errc::protocol, "welcome without version");
    }
    auto observed = get_observed(*j);
    if (!observed) return std::unexpected(observed.error());
    rv::Welcome w{(*j)["version"].get<int>(), std::move(*observed), {}};
    if (j->contains("stun")) {
      const auto& ports = (*j)["stun"];
      if (!ports.is_array() || ports.size() > 4)
        return fail(Errc::protocol, "malformed stun ports");
      for (const auto& port : ports) {
        if (!port.is_number_unsigned() || port.get<unsigned>() == 0 ||
            port.get<unsigned>() > 65535) {
          return fail(Errc::protocol, "malformed stun ports");
        }
        w.stun_ports.push_back(static_cast<std::uint16_t>(port.get<unsigned>()));
      }
    }
    auto relay_udp = get_relay_udp(*j);
    if (!relay_udp) return std::unexpected(relay_udp.error());
    w.relay_udp = *relay_udp;
    return w;
  }
  if (type == "allocated") {
    auto n = get_string(*j, "nameplate", 9);
    if (!n || !valid_nameplate(*n)) return fail(Errc::protocol, "invalid nameplate");
    return rv::Allocated{*n};
  }
  if (type == "paired") {
    auto sid = get_hex(*j, "session", kSessionIdBytes);
    // An empty grant: the server runs no relay.
    auto grant = get_string(*j, "relay_grant", 0).has_value()
                     ? Result<Bytes>(Bytes{})
                     : get_hex(*j, "relay_grant", kGrantBytes);
    if (!sid || !grant) return fail(Errc::protocol, "malformed paired message");
    auto observed = get_observed(*j);
    if (!observed) return std::unexpected(observed.error());
    auto peer_observed = get_observed(*j, "peer_observed");
    if (!peer_observed) return std::unexpected(peer_observed.error());
    std::string relay;
    if (j->contains("relay")) {
      auto r = get_string(*j, "relay", kMaxRelayUrl);
      if (!r || !parse_server_url(*r)) return fail(Errc::protocol, "malformed relay URL");
      relay = std::move(*r);
    }
    auto relay_udp = get_relay_udp(*j);
    if (!relay_udp) return std::unexpected(relay_udp.error());
    return rv::Paired{std::move(*sid),           std::move(*grant), std::move(*observed),
                      std::move(*peer_observed), std::move(relay),  *relay_udp};
  }
  if (type == "message") {
    auto b = get_base64(*j, "body", kMaxRendezvousFrame);
    if (!b) return std::unexpected(b.error());
    return rv::Message{std::move(*b)};
  }
  if (type == "peer_left") return rv::PeerLeft{};
  if (type == "waiting") {
    rv::Waiting w;
    if (j->contains("queued")) {
      if (!(*j)["queued"].is_boolean()) return fail(Errc::protocol, "malformed queued flag");
      w.queued = (*j)["queued"].get<bool>();
    }
    return w;
  }
  if (type == "error") {
    auto c = get_string(*j, "code", 64);
    auto m = get_string(*j, "message", kMaxErrorText);
    if (!c || !m) return fail(Errc::protocol, "malformed error message");
    return rv::ServerError{*c, *m};
  }
  return fail(Errc::protocol, "unknown message type \"" + type.substr(0, 40) + "\"");
}

}  // namespace ferry::proto
