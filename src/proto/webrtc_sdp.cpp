#include "proto/webrtc_sdp.hpp"

#include <charconv>
#include <cstdio>
#include <optional>

namespace ferry::proto::webrtc {

namespace {

Error bad(const std::string& what) {
  return {Errc::protocol, "the peer's WebRTC description " + what};
}

std::vector<std::string_view> split(std::string_view s, char sep) {
  std::vector<std::string_view> out;
  while (!s.empty()) {
    const auto at = s.find(sep);
    const auto part = s.substr(0, at);
    if (!part.empty()) out.push_back(part);
    if (at == std::string_view::npos) break;
    s.remove_prefix(at + 1);
  }
  return out;
}

template <class T>
std::optional<T> number(std::string_view s) {
  T v{};
  const auto [p, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc{} || p != s.data() + s.size()) return std::nullopt;
  return v;
}

// ice-char = ALPHA / DIGIT / "+" / "/" (RFC 8839).
bool ice_chars(std::string_view s) {
  for (const char c : s) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '+' || c == '/';
    if (!ok) return false;
  }
  return true;
}

int hex(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::optional<std::array<std::uint8_t, 32>> parse_fingerprint(std::string_view v) {
  // "sha-256 AB:CD:…"
  const auto space = v.find(' ');
  if (space == std::string_view::npos) return std::nullopt;
  std::string algorithm(v.substr(0, space));
  for (auto& c : algorithm) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (algorithm != "sha-256") return std::nullopt;
  const auto parts = split(v.substr(space + 1), ':');
  if (parts.size() != 32) return std::nullopt;
  std::array<std::uint8_t, 32> out{};
  for (std::size_t i = 0; i < 32; ++i) {
    if (parts[i].size() != 2 || hex(parts[i][0]) < 0 || hex(parts[i][1]) < 0) return std::nullopt;
    out[i] = static_cast<std::uint8_t>(hex(parts[i][0]) * 16 + hex(parts[i][1]));
  }
  return out;
}

}  // namespace

std::optional<IceCandidate> parse_candidate(std::string_view line) {
  if (line.starts_with("a=")) line.remove_prefix(2);
  if (!line.starts_with("candidate:")) return std::nullopt;
  const auto f = split(line.substr(10), ' ');
  // foundation component transport priority address port "typ" type …
  if (f.size() < 8 || f[6] != "typ") return std::nullopt;
  IceCandidate c;
  c.line = std::string(line);
  c.protocol = std::string(f[2]);
  for (auto& ch : c.protocol) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  c.address = std::string(f[4]);
  const auto port = number<std::uint16_t>(f[5]);
  if (!port || !number<std::uint32_t>(f[3]) || !number<unsigned>(f[1])) return std::nullopt;
  c.port = *port;
  c.type = std::string(f[7]);
  return c;
}

Result<Description> parse_description(std::string_view sdp) {
  if (sdp.size() > kMaxDescription) return std::unexpected(bad("is too long"));
  Description d;
  bool application = false;   // inside the m=application section
  bool seen_section = false;  // the first m=application section was seen
  bool fingerprint = false;
  std::string session_ufrag;
  std::string session_pwd;
  std::optional<std::array<std::uint8_t, 32>> session_fingerprint;
  std::optional<Setup> session_setup;
  bool setup = false;
  for (auto line : split(sdp, '\n')) {
    if (line.ends_with('\r')) line.remove_suffix(1);
    if (line.starts_with("m=")) {
      application = !seen_section && line.starts_with("m=application ") &&
                    line.find("webrtc-datachannel") != std::string_view::npos;
      seen_section = seen_section || application;
      continue;
    }
    if (!line.starts_with("a=")) continue;
    const auto colon = line.find(':');
    const auto name = line.substr(2, colon == std::string_view::npos ? line.npos : colon - 2);
    const auto value =
        colon == std::string_view::npos ? std::string_view{} : line.substr(colon + 1);
    const bool session_level = !seen_section;
    if (!session_level && !application) continue;  // another section (media): not ours
    if (name == "ice-ufrag") {
      if (value.size() < 4 || value.size() > 256 || !ice_chars(value)) {
        return std::unexpected(bad("has a malformed ice-ufrag"));
      }
      (session_level ? session_ufrag : d.ufrag) = std::string(value);
    } else if (name == "ice-pwd") {
      if (value.size() < 22 || value.size() > 256 || !ice_chars(value)) {
        return std::unexpected(bad("has a malformed ice-pwd"));
      }
      (session_level ? session_pwd : d.pwd) = std::string(value);
    } else if (name == "fingerprint") {
      const auto f = parse_fingerprint(value);
      if (!f) continue;  // another algorithm: a sha-256 one may follow
      if (session_level) {
        session_fingerprint = f;
      } else {
        d.fingerprint = *f;
        fingerprint = true;
      }
    } else if (name == "setup") {
      std::optional<Setup> s;
      if (value == "actpass") s = Setup::actpass;
      if (value == "active") s = Setup::active;
      if (value == "passive") s = Setup::passive;
      if (!s) return std::unexpected(bad("has an unknown DTLS role"));
      if (session_level) {
        session_setup = s;
      } else {
        d.setup = *s;
        setup = true;
      }
    } else if (name == "mid" && application) {
      if (value.empty() || value.size() > 32 || !ice_chars(value)) {
        return std::unexpected(bad("has a malformed mid"));
      }
      d.mid = std::string(value);
    } else if (name == "sctp-port" && application) {
      const auto p = number<std::uint16_t>(value);
      if (!p || *p == 0) return std::unexpected(bad("has a malformed sctp-port"));
      d.sctp_port = *p;
    } else if (name == "max-message-size" && application) {
      const auto m = number<std::uint64_t>(value);
      if (!m) return std::unexpected(bad("has a malformed max-message-size"));
      // 0 means "any size"; keep what this side sends within a sane bound either way.
      d.max_message_size = *m == 0 || *m > (1U << 20) ? (1U << 20) : static_cast<std::uint32_t>(*m);
    } else if (name == "candidate" && application) {
      auto c = parse_candidate(line);
      if (!c) return std::unexpected(bad("has a malformed candidate"));
      if (c->protocol != "udp") continue;
      if (d.candidates.size() == kMaxCandidates)
        return std::unexpected(bad("has too many candidates"));
      d.candidates.push_back(std::move(*c));
    }
  }
  if (!seen_section) return std::unexpected(bad("has no data channel section"));
  if (d.ufrag.empty()) d.ufrag = session_ufrag;
  if (d.pwd.empty()) d.pwd = session_pwd;
  if (!fingerprint && session_fingerprint) {
    d.fingerprint = *session_fingerprint;
    fingerprint = true;
  }
  if (!setup && session_setup) d.setup = *session_setup;
  if (d.ufrag.empty() || d.pwd.empty()) return std::unexpected(bad("has no ICE credentials"));
  if (!fingerprint) return std::unexpected(bad("has no SHA-256 fingerprint"));
  return d;
}

bool in_scope(const IceCandidate& c, const CandidateScope& scope, std::string* why) {
  if (!is_ip_literal(c.address)) {
    if (why)
      *why = "the browser's candidate is a name, not an address (its checks reach us instead)";
    return false;
  }
  const Candidate as_ours{Transport::udp, c.address, c.port,
                          c.type == "host" ? CandidateKind::host : CandidateKind::srflx};
  return proto::in_scope(as_ours, scope, why);
}

std::string fingerprint_text(const std::array<std::uint8_t, 32>& f) {
  std::string out;
  out.reserve(96);
  for (std::size_t i = 0; i < f.size(); ++i) {
    char b[4];
    std::snprintf(b, sizeof b, "%02X", f[i]);
    if (i) out += ':';
    out += b;
  }
  return out;
}

std::string format_answer(const Description& d, std::uint64_t session_id) {
  std::string s;
  const auto line = [&s](std::string_view l) {
    s += l;
    s += "\r\n";
  };
  line("v=0");
  line("o=- " + std::to_string(session_id) + " 2 IN IP4 127.0.0.1");
  line("s=-");
  line("t=0 0");
  line("a=group:BUNDLE " + d.mid);
  line("m=application 9 UDP/DTLS/SCTP webrtc-datachannel");
  line("c=IN IP4 0.0.0.0");
  line("a=ice-ufrag:" + d.ufrag);
  line("a=ice-pwd:" + d.pwd);
  line("a=fingerprint:sha-256 " + fingerprint_text(d.fingerprint));
  switch (d.setup) {
    case Setup::actpass:
      line("a=setup:actpass");
      break;
    case Setup::active:
      line("a=setup:active");
      break;
    case Setup::passive:
      line("a=setup:passive");
      break;
  }
  line("a=mid:" + d.mid);
  line("a=sctp-port:" + std::to_string(d.sctp_port));
  line("a=max-message-size:" + std::to_string(d.max_message_size));
  for (const auto& c : d.candidates) line("a=" + c.line);
  line("a=end-of-candidates");
  return s;
}

}  // namespace ferry::proto::webrtc
