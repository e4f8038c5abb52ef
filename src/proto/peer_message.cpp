#include "proto/peer_message.hpp"

#include <arpa/inet.h>

#include <algorithm>
#include <nlohmann/json.hpp>

#include "proto/record.hpp"
#include "proto/webrtc_sdp.hpp"

namespace ferry::proto {

using nlohmann::json;

namespace {
constexpr std::uint8_t kPakeVersion = kWireVersion;
constexpr std::size_t kMaxCandidates = 64;
constexpr std::size_t kMaxFeatures = 32;
constexpr std::string_view kPrefixHash = "prefix-hash";
constexpr std::string_view kAes256Gcm = "aes256gcm";
constexpr std::string_view kPipeTrial = "pipe-trial";
constexpr std::string_view kRelayUdp = "relay-udp";
constexpr std::string_view kWideTcp = "wide-tcp";
constexpr std::string_view kWebRtc = "webrtc";
constexpr std::string_view kComeback = "comeback";

}  // namespace

bool is_ip_literal(const std::string& s) {
  unsigned char buf[16];
  return inet_pton(AF_INET, s.c_str(), buf) == 1 || inet_pton(AF_INET6, s.c_str(), buf) == 1;
}

namespace {
// A PAKE message's version, when it is not ours: the error both sides stop with.
std::optional<Error> other_version(ByteView b) {
  if (b.empty() || b[0] == kPakeVersion) return std::nullopt;
  if (b[0] == 0) {
    const std::string theirs = b.size() == 2 ? std::to_string(b[1]) : "unknown";
    return Error{Errc::version, "the other computer runs another version of ferry (wire protocol " +
                                    theirs + "; this one speaks " + std::to_string(kPakeVersion) +
                                    ") and stopped; nothing was sent"};
  }
  return Error{Errc::version, "the other computer runs another version of ferry (wire protocol " +
                                  std::to_string(b[0]) + "; this one speaks " +
                                  std::to_string(kPakeVersion) + "); nothing was sent"};
}
}  // namespace

Bytes encode_version_notice() {
  return Bytes{0, kPakeVersion};
}

bool is_version_notice(ByteView b) {
  return b.size() == 2 && b[0] == 0;
}

Bytes encode(const ReceiverPake& m) {
  Bytes out{kPakeVersion, static_cast<std::uint8_t>(m.kind)};
  append(out, m.share);
  return out;
}

Bytes encode(const SenderPake& m) {
  Bytes out{kPakeVersion};
  append(out, m.share);
  append(out, m.confirm);
  return out;
}

Result<ReceiverPake> decode_receiver_pake(ByteView b) {
  if (auto other = other_version(b)) return std::unexpected(*other);
  if (b.size() != 2 + kCpacePointBytes || b[0] != kPakeVersion ||
      (b[1] != static_cast<std::uint8_t>(SecretKind::words) &&
       b[1] != static_cast<std::uint8_t>(SecretKind::link))) {
    return fail(Errc::protocol, "the receiver's PAKE message is malformed");
  }
  ReceiverPake m;
  m.kind = static_cast<SecretKind>(b[1]);
  std::copy(b.begin() + 2, b.end(), m.share.begin());
  return m;
}

Result<SenderPake> decode_sender_pake(ByteView b) {
  if (auto other = other_version(b)) return std::unexpected(*other);
  if (b.size() != 1 + kCpacePointBytes + 32 || b[0] != kPakeVersion) {
    return fail(Errc::protocol, "the sender's PAKE message is malformed");
  }
  SenderPake m;
  std::copy(b.begin() + 1, b.begin() + 1 + kCpacePointBytes, m.share.begin());
  std::copy(b.begin() + 1 + kCpacePointBytes, b.end(), m.confirm.begin());
  return m;
}

Result<Key> decode_confirm(ByteView b) {
  if (b.size() != 32) return fail(Errc::protocol, "the key confirmation is malformed");
  Key k{};
  std::copy(b.begin(), b.end(), k.begin());
  return k;
}

Bytes confirmation_transcript(ByteView session_id, const CpacePoint& sender_share,
                              const CpacePoint& receiver_share) {
  Bytes t;
  append_lv(t, as_bytes("ferry-v1 confirm"));
  append_lv(t, session_id);
  append_lv(t, sender_share);
  append_lv(t, receiver_share);
  return t;
}

std::string_view transport_name(Transport t) {
  return t == Transport::tcp ? "tcp" : "udp";
}

std::string_view candidate_kind_name(CandidateKind k) {
  switch (k) {
    case CandidateKind::host:
      return "host";
    case CandidateKind::srflx:
      return "srflx";
    case CandidateKind::mapped:
      return "mapped";
  }
  return "host";
}

std::optional<Transport> transport_from_name(std::string_view name) {
  if (name == "tcp") return Transport::tcp;
  if (name == "udp") return Transport::udp;
  return std::nullopt;
}

std::optional<CandidateKind> candidate_kind_from_name(std::string_view name) {
  for (const auto k : {CandidateKind::host, CandidateKind::srflx, CandidateKind::mapped}) {
    if (candidate_kind_name(k) == name) return k;
  }
  return std::nullopt;
}

std::string candidate_text(const Candidate& c) {
  const bool v6 = c.address.find(':') != std::string::npos;
  return std::string(transport_name(c.transport)) + " " + (v6 ? "[" + c.address + "]" : c.address) +
         ":" + std::to_string(c.port);
}

Features our_features() {
  return Features{.prefix_hash = true,
                  .aes256gcm = aes256gcm_available(),
                  .pipe_trial = true,
                  .relay_udp = true,
                  .wide_tcp = true,
                  .webrtc = true,
                  .comeback = true};
}

Features common(const Features& a, const Features& b) {
  return Features{.prefix_hash = a.prefix_hash && b.prefix_hash,
                  .aes256gcm = a.aes256gcm && b.aes256gcm,
                  .pipe_trial = a.pipe_trial && b.pipe_trial,
                  .relay_udp = a.relay_udp && b.relay_udp,
                  .wide_tcp = a.wide_tcp && b.wide_tcp,
                  .webrtc = a.webrtc && b.webrtc,
                  .comeback = a.comeback && b.comeback};
}

std::string encode_note(const MailboxNote& note) {
  if (const auto* abort = std::get_if<PeerAbort>(&note)) {
    return json{{"type", "abort"}, {"code", abort->code}, {"message", abort->message}}.dump(
        -1, ' ', false, json::error_handler_t::replace);
  }
  if (const auto* signal = std::get_if<WebRtcSignal>(&note)) {
    return json{{"type", "webrtc"}, {"sdp", signal->sdp}}.dump(-1, ' ', false,
                                                               json::error_handler_t::replace);
  }
  const auto& c = std::get<Candidates>(note);
  json list = json::array();
  for (const auto& cand : c.list) {
    list.push_back({{"transport", transport_name(cand.transport)},
                    {"address", cand.address},
                    {"port", cand.port},
                    {"kind", candidate_kind_name(cand.kind)}});
  }
  json j{{"type", "candidates"}, {"candidates", list}, {"relay", c.relay}};
  if (c.udp_mapping != UdpMapping::unknown) {
    j["udp_mapping"] = c.udp_mapping == UdpMapping::independent ? "independent" : "dependent";
  }
  if (!c.quic_fingerprint.empty()) j["quic_fingerprint"] = to_hex(c.quic_fingerprint);
  if (c.tcp_loss_based) j["tcp_loss_based"] = true;
  if (c.webrtc_offer) j["webrtc_offer"] = true;
  json features = json::array();
  if (c.features.prefix_hash) features.push_back(kPrefixHash);
  if (c.features.aes256gcm) features.push_back(kAes256Gcm);
  if (c.features.pipe_trial) features.push_back(kPipeTrial);
  if (c.features.relay_udp) features.push_back(kRelayUdp);
  if (c.features.wide_tcp) features.push_back(kWideTcp);
  if (c.features.webrtc) features.push_back(kWebRtc);
  if (c.features.comeback) features.push_back(kComeback);
  if (!features.empty()) j["features"] = features;
  return j.dump();
}

Result<MailboxNote> decode_note(std::string_view text) {
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object() || !j.contains("type") || !j["type"].is_string()) {
    return fail(Errc::protocol, "the peer's message is malformed");
  }
  if (j["type"] == "abort") {
    if (!j.contains("code") || !j["code"].is_string() || !j.contains("message") ||
        !j["message"].is_string()) {
      return fail(Errc::protocol, "the peer's abort message is malformed");
    }
    return PeerAbort{j["code"].get<std::string>().substr(0, 64),
                     j["message"].get<std::string>().substr(0, 2048)};
  }
  if (j["type"] == "webrtc") {
    if (!j.contains("sdp") || !j["sdp"].is_string() ||
        j["sdp"].get_ref<const std::string&>().size() > webrtc::kMaxDescription) {
      return fail(Errc::protocol, "the peer's WebRTC description is malformed");
    }
    return WebRtcSignal{j["sdp"].get<std::string>()};
  }
  if (j["type"] != "candidates" || !j.contains("candidates") || !j["candidates"].is_array() ||
      j["candidates"].size() > kMaxCandidates) {
    return fail(Errc::protocol, "the peer's candidate list is malformed");
  }
  Candidates out;
  out.relay = j.contains("relay") && j["relay"].is_boolean() && j["relay"].get<bool>();
  out.tcp_loss_based = j.contains("tcp_loss_based") && j["tcp_loss_based"].is_boolean() &&
                       j["tcp_loss_based"].get<bool>();
  out.webrtc_offer =
      j.contains("webrtc_offer") && j["webrtc_offer"].is_boolean() && j["webrtc_offer"].get<bool>();
  if (j.contains("features")) {
    const auto& f = j["features"];
    if (!f.is_array() || f.size() > kMaxFeatures) {
      return fail(Errc::protocol, "the peer's features are malformed");
    }
    for (const auto& name : f) {
      if (!name.is_string()) continue;
      const auto& n = name.get_ref<const std::string&>();
      if (n == kPrefixHash) out.features.prefix_hash = true;
      if (n == kAes256Gcm) out.features.aes256gcm = true;
      if (n == kPipeTrial) out.features.pipe_trial = true;
      if (n == kRelayUdp) out.features.relay_udp = true;
      if (n == kWideTcp) out.features.wide_tcp = true;
      if (n == kWebRtc) out.features.webrtc = true;
      if (n == kComeback) out.features.comeback = true;
    }
  }
  if (j.contains("udp_mapping") && j["udp_mapping"].is_string()) {
    const auto m = j["udp_mapping"].get<std::string>();
    if (m == "independent") out.udp_mapping = UdpMapping::independent;
    if (m == "dependent") out.udp_mapping = UdpMapping::dependent;
  }
  if (j.contains("quic_fingerprint")) {
    const auto& f = j["quic_fingerprint"];
    auto bytes = f.is_string() ? from_hex(f.get<std::string>()) : std::nullopt;
    if (!bytes || bytes->size() != 32) {
      return fail(Errc::protocol, "the peer's QUIC certificate fingerprint is malformed");
    }
    out.quic_fingerprint = std::move(*bytes);
  }
  for (const auto& c : j["candidates"]) {
    if (!c.is_object() || !c.contains("transport") || !c["transport"].is_string() ||
        !c.contains("address") || !c["address"].is_string() || !c.contains("port") ||
        !c["port"].is_number_unsigned()) {
      return fail(Errc::protocol, "a peer candidate is malformed");
    }
    Candidate cand{Transport::tcp, c["address"].get<std::string>(), 0};
    const auto port = c["port"].get<std::uint64_t>();
    if (port == 0 || port > 65535 || !is_ip_literal(cand.address)) {
      return fail(Errc::protocol, "a peer candidate has a bad address");
    }
    cand.port = static_cast<std::uint16_t>(port);
    // Unknown transports and kinds come from newer peers: skip them rather than fail.
    const auto transport = transport_from_name(c["transport"].get<std::string>());
    const auto kind = c.contains("kind") && c["kind"].is_string()
                          ? candidate_kind_from_name(c["kind"].get<std::string>())
                          : std::optional(CandidateKind::host);
    if (!transport || !kind) continue;
    cand.transport = *transport;
    cand.kind = *kind;
    out.list.push_back(std::move(cand));
  }
  return out;
}

}  // namespace ferry::proto
