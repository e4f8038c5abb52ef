#include "proto/wormhole_message.hpp"

#include <algorithm>
#include <cctype>
#include <limits>

#include <nlohmann/json.hpp>

#include "proto/code.hpp"
#include "proto/names.hpp"

namespace ferry::proto {
namespace {

using nlohmann::json;

// Bounds on what a mailbox server or a wormhole peer may make us hold.
constexpr std::size_t kMaxFrameBytes = 1 << 20;
constexpr std::size_t kMaxFieldBytes = 256;
constexpr std::size_t kMaxTextBytes = std::size_t{64} * 1024;

std::string field(const json& j, const char* key, std::size_t max = kMaxFieldBytes) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return {};
  std::string s = it->get<std::string>();
  if (s.size() > max) s.resize(max);
  return s;
}

std::optional<std::uint64_t> count(const json& j, const char* key) {
  const auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  const std::uint64_t v = it->get<std::uint64_t>();
  if (v > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max())) return std::nullopt;
  return v;
}

std::string frame(const json& j) {
  return j.dump();
}

Result<std::string> offered_name(const json& j, const char* key) {
  const std::string name = field(j, key, kMaxPathBytes);
  // wormhole senders offer a base name; ferry keeps exactly one checked component.
  auto parts = split_relative_path(name);
  if (!parts || parts->size() != 1)
    return fail(Errc::bad_offer, "the sender offered the name \"" + display_name(name) +
                                     "\", which cannot be written safely");
  return parts->front();
}

Result<WormholeOffer> parse_offer(const json& o) {
  if (!o.is_object()) return fail(Errc::protocol, "offer is not an object");
  if (const auto m = o.find("message"); m != o.end()) {
    if (!m->is_string()) return fail(Errc::protocol, "text offer is not a string");
    const std::string text = m->get<std::string>();
    if (text.size() > kMaxTextBytes) return fail(Errc::bad_offer, "text offer over 64 KiB");
    return TextOffer{text};
  }
  if (const auto f = o.find("file"); f != o.end() && f->is_object()) {
    auto name = offered_name(*f, "filename");
    if (!name) return std::unexpected(name.error());
    const auto size = count(*f, "filesize");
    if (!size) return fail(Errc::bad_offer, "file offer without a valid size");
    return FileOffer{*name, *size};
  }
  if (const auto d = o.find("directory"); d != o.end() && d->is_object()) {
    if (field(*d, "mode") != "zipfile/deflated")
      return fail(Errc::bad_offer, "directory offer in an unknown mode");
    auto name = offered_name(*d, "dirname");
    if (!name) return std::unexpected(name.error());
    const auto zip = count(*d, "zipsize");
    const auto bytes = count(*d, "numbytes");
    const auto files = count(*d, "numfiles");
    if (!zip || !bytes || !files) return fail(Errc::bad_offer, "directory offer without sizes");
    return DirectoryOffer{*name, *zip, *bytes, *files};
  }
  return fail(Errc::bad_offer, "the sender offered something this version does not know");
}

void add_hint(std::vector<TransitHint>& out, const json& h, bool relay) {
  if (out.size() >= kMaxTransitHints || !h.is_object()) return;
  if (field(h, "type") != "direct-tcp-v1") return;
  const auto port = count(h, "port");
  auto hp = parse_host_port(field(h, "hostname"));
  if (!port || *port == 0 || *port > 65535 || !hp || hp->port) return;
  out.push_back(TransitHint{hp->host, static_cast<std::uint16_t>(*port), relay});
}

std::vector<TransitHint> parse_hints(const json& t) {
  std::vector<TransitHint> out;
  const auto hints = t.find("hints-v1");
  if (hints == t.end() || !hints->is_array()) return out;
  for (const auto& h : *hints) {
    if (!h.is_object()) continue;
    if (field(h, "type") == "relay-v1") {
      const auto inner = h.find("hints");
      if (inner == h.end() || !inner->is_array()) continue;
      for (const auto& r : *inner) add_hint(out, r, true);
    } else {
      add_hint(out, h, false);
    }
  }
  return out;
}

}  // namespace

Result<MailboxUrl> parse_mailbox_url(std::string_view text) {
  std::string as_http;
  if (text.starts_with("ws://"))
    as_http = "http://" + std::string(text.substr(5));
  else if (text.starts_with("wss://"))
    as_http = "https://" + std::string(text.substr(6));
  else
    return fail(Errc::usage, "the mailbox URL \"" + display_name(text.substr(0, 200)) +
                                 "\" does not start with ws:// or wss://; it should look like "
                                 "ws://relay.magic-wormhole.io:4000/v1");
  auto server = parse_server_url(as_http);
  if (!server)
    return fail(Errc::usage, "the mailbox URL \"" + display_name(text.substr(0, 200)) +
                                 "\" is not a valid ws:// URL");
  MailboxUrl out{*server, server->base_path.empty() ? "/" : server->base_path};
  out.server.base_path.clear();
  return out;
}

Result<TransitHelper> parse_transit_helper(std::string_view text) {
  const auto bad = fail(Errc::usage, "the transit helper \"" + display_name(text.substr(0, 200)) +
                                         "\" should look like tcp:transit.magic-wormhole.io:4001");
  if (!text.starts_with("tcp:")) return bad;
  auto hp = parse_host_port(text.substr(4));
  if (!hp || !hp->port) return bad;
  return TransitHelper{hp->host, *hp->port};
}

Result<MailboxFrame> parse_mailbox_frame(std::string_view text) {
  if (text.size() > kMaxFrameBytes) return fail(Errc::server_error, "mailbox frame over 1 MiB");
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Errc::server_error, "the mailbox server sent something that is not JSON");
  MailboxFrame f;
  const std::string type = field(j, "type");
  if (type == "welcome") {
    f.event = MailboxEvent::welcome;
    if (const auto w = j.find("welcome"); w != j.end() && w->is_object())
      f.error = field(*w, "error", 1024);
  } else if (type == "ack") {
    f.event = MailboxEvent::ack;
  } else if (type == "allocated") {
    f.event = MailboxEvent::allocated;
    f.nameplate = field(j, "nameplate");
  } else if (type == "claimed") {
    f.event = MailboxEvent::claimed;
    f.mailbox = field(j, "mailbox");
    if (f.mailbox.empty()) return fail(Errc::server_error, "claimed without a mailbox");
  } else if (type == "released") {
    f.event = MailboxEvent::released;
  } else if (type == "closed") {
    f.event = MailboxEvent::closed;
  } else if (type == "error") {
    f.event = MailboxEvent::error;
    f.error = field(j, "error", 1024);
  } else if (type == "message") {
    f.event = MailboxEvent::message;
    f.side = field(j, "side");
    f.phase = field(j, "phase");
    auto body = from_hex(field(j, "body", kMaxFrameBytes));
    if (!body) return fail(Errc::server_error, "a mailbox message whose body is not hex");
    f.body = std::move(*body);
  }
  return f;
}

std::string mailbox_bind(std::string_view appid, std::string_view side) {
  return frame({{"type", "bind"},
                {"appid", appid},
                {"side", side},
                {"client_version", json::array({"ferry", "0.1"})}});
}
std::string mailbox_allocate() {
  return frame({{"type", "allocate"}});
}
std::string mailbox_claim(std::string_view nameplate) {
  return frame({{"type", "claim"}, {"nameplate", nameplate}});
}
std::string mailbox_open(std::string_view mailbox) {
  return frame({{"type", "open"}, {"mailbox", mailbox}});
}
std::string mailbox_add(std::string_view phase, ByteView body) {
  return frame({{"type", "add"}, {"phase", phase}, {"body", to_hex(body)}});
}
std::string mailbox_release(std::string_view nameplate) {
  return frame({{"type", "release"}, {"nameplate", nameplate}});
}
std::string mailbox_close(std::string_view mailbox, std::string_view mood) {
  return frame({{"type", "close"}, {"mailbox", mailbox}, {"mood", mood}});
}

Result<MailboxClientFrame> parse_mailbox_client_frame(std::string_view text) {
  if (text.size() > kMaxFrameBytes) return fail(Errc::protocol, "message too large");
  const json j = json::parse(text, nullptr, false);
  if (j.is_discarded() || !j.is_object()) return fail(Errc::protocol, "not a JSON object");
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return fail(Errc::protocol, "missing 'type'");
  static const std::pair<const char*, MailboxRequest> kTypes[] = {
      {"bind", MailboxRequest::bind},         {"list", MailboxRequest::list},
      {"allocate", MailboxRequest::allocate}, {"claim", MailboxRequest::claim},
      {"release", MailboxRequest::release},   {"open", MailboxRequest::open},
      {"add", MailboxRequest::add},           {"close", MailboxRequest::close},
      {"ping", MailboxRequest::ping}};
  MailboxClientFrame f;
  const auto known = std::find_if(std::begin(kTypes), std::end(kTypes),
                                  [&](const auto& t) { return *type == t.first; });
  if (known == std::end(kTypes)) return fail(Errc::protocol, "unknown type");
  f.type = known->second;
  if (const auto id = j.find("id"); id != j.end()) {
    f.id = id->dump();
    if (f.id.size() > kMaxFieldBytes) return fail(Errc::protocol, "'id' too long");
  }
  // A field the request needs: a string within bounds.
  const auto need = [&](const char* key, std::string& out, bool required, std::size_t max,
                        bool* present = nullptr) -> Result<void> {
    const auto it = j.find(key);
    if (it == j.end()) {
      if (required) return fail(Errc::protocol, std::string("missing '") + key + "'");
      return {};
    }
    if (!it->is_string() || it->get_ref<const std::string&>().size() > max)
      return fail(Errc::protocol, std::string("'") + key + "' must be a string of at most " +
                                      std::to_string(max) + " bytes");
    out = it->get<std::string>();
    if (present != nullptr) *present = true;
    return {};
  };
  Result<void> r;
  switch (f.type) {
    case MailboxRequest::bind:
      r = need("appid", f.appid, true, kMaxFieldBytes);
      if (r) r = need("side", f.side, true, 64);
      break;
    case MailboxRequest::claim:
      r = need("nameplate", f.nameplate, true, 32, &f.has_nameplate);
      break;
    case MailboxRequest::release:
      r = need("nameplate", f.nameplate, false, 32, &f.has_nameplate);
      break;
    case MailboxRequest::open:
      r = need("mailbox", f.mailbox, true, 64, &f.has_mailbox);
      break;
    case MailboxRequest::add:
      r = need("phase", f.phase, true, 64);
      if (r) r = need("body", f.body, true, kMaxFrameBytes);
      break;
    case MailboxRequest::close:
      r = need("mailbox", f.mailbox, false, 64, &f.has_mailbox);
      if (r) r = need("mood", f.mood, false, 32);
      break;
    case MailboxRequest::ping: {
      const auto p = j.find("ping");
      if (p == j.end()) return fail(Errc::protocol, "ping requires 'ping'");
      f.ping = p->dump();
      if (f.ping.size() > kMaxFieldBytes) return fail(Errc::protocol, "'ping' too long");
      break;
    }
    case MailboxRequest::list:
    case MailboxRequest::allocate:
      break;
  }
  if (!r) return std::unexpected(r.error());
  return f;
}

std::string mailbox_welcome() {
  return frame({{"type", "welcome"}, {"welcome", json::object()}});
}
std::string mailbox_ack(std::string_view id_json) {
  json j = {{"type", "ack"}};
  j["id"] = id_json.empty() ? json(nullptr) : json::parse(id_json, nullptr, false);
  return frame(j);
}
std::string mailbox_error(std::string_view error, std::string_view orig) {
  json j = {{"type", "error"}, {"error", error}};
  j["orig"] = json::parse(orig.substr(0, kMaxFieldBytes * 4), nullptr, false);
  if (j["orig"].is_discarded()) j["orig"] = nullptr;
  return frame(j);
}
std::string mailbox_allocated(std::string_view nameplate) {
  return frame({{"type", "allocated"}, {"nameplate", nameplate}});
}
std::string mailbox_claimed(std::string_view mailbox) {
  return frame({{"type", "claimed"}, {"mailbox", mailbox}});
}
std::string mailbox_simple(std::string_view type) {
  json j = {{"type", type}};
  if (type == "nameplates") j["nameplates"] = json::array();
  return frame(j);
}
std::string mailbox_pong(std::string_view ping_json) {
  json j = {{"type", "pong"}};
  j["pong"] = json::parse(ping_json, nullptr, false);
  return frame(j);
}
std::string mailbox_message(std::string_view side, std::string_view phase, std::string_view body,
                            double server_rx, std::string_view id_json) {
  json j = {{"type", "message"},
            {"side", side},
            {"phase", phase},
            {"body", body},
            {"server_rx", server_rx}};
  j["id"] = id_json.empty() ? json(nullptr) : json::parse(id_json, nullptr, false);
  return frame(j);
}

Result<TransitRelayRequest> parse_transit_relay_request(std::string_view line) {
  constexpr std::string_view kPlease = "please relay ";
  constexpr std::string_view kForSide = " for side ";
  const auto bad = fail(Errc::protocol, "bad handshake");
  if (!line.starts_with(kPlease)) return bad;
  line.remove_prefix(kPlease.size());
  const auto token = from_hex(line.substr(0, 64));
  if (line.size() < 64 || !token || token->size() != 32) return bad;
  line.remove_prefix(64);
  if (!line.starts_with(kForSide)) return bad;  // old unsided clients (before 0.10) are not served
  line.remove_prefix(kForSide.size());
  if (line.size() != 16 || !from_hex(line)) return bad;
  TransitRelayRequest out;
  std::copy(token->begin(), token->end(), out.token.begin());
  out.side = std::string(line);
  return out;
}

Result<WormholeAppMessage> parse_wormhole_app_message(ByteView plaintext) {
  const json j = json::parse(plaintext.begin(), plaintext.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Errc::protocol, "the peer sent a message that is not a JSON object");
  WormholeAppMessage m;
  if (const auto e = j.find("error"); e != j.end())
    m.error = e->is_string() ? e->get<std::string>().substr(0, 1024) : "(unreadable error)";
  if (const auto t = j.find("transit"); t != j.end() && t->is_object()) m.transit = parse_hints(*t);
  if (const auto o = j.find("offer"); o != j.end()) {
    auto offer = parse_offer(*o);
    if (!offer) return std::unexpected(offer.error());
    m.offer = std::move(*offer);
  }
  if (const auto a = j.find("answer"); a != j.end() && a->is_object()) {
    for (const char* kind : {"message_ack", "file_ack"})
      if (field(*a, kind) == "ok") m.answer = kind;
    if (!m.answer) m.answer = "";
  }
  return m;
}

std::string wormhole_version_message() {
  return frame({{"app_versions", json::object()}});
}

std::string wormhole_transit_message(const std::vector<TransitHint>& hints) {
  json direct = json::array();
  for (const auto& h : hints) {
    const json one = {
        {"type", "direct-tcp-v1"}, {"priority", 0.0}, {"hostname", h.host}, {"port", h.port}};
    // Each relay as its own relay-v1 clause, as wormhole writes them.
    direct.push_back(h.relay ? json{{"type", "relay-v1"}, {"hints", json::array({one})}} : one);
  }
  return frame(
      {{"transit",
        {{"abilities-v1", json::array({{{"type", "direct-tcp-v1"}}, {{"type", "relay-v1"}}})},
         {"hints-v1", direct}}}});
}

std::string wormhole_answer(std::string_view kind) {
  return frame({{"answer", {{std::string(kind), "ok"}}}});
}
std::string wormhole_error(std::string_view text) {
  return frame({{"error", text}});
}
std::string wormhole_transit_ack(std::string_view sha256_hex) {
  return frame({{"ack", "ok"}, {"sha256", sha256_hex}});
}

std::string wormhole_transit_ack_refusal() {
  return frame({{"ack", "rejected"}});
}

Result<void> check_wormhole_transit_ack(ByteView plaintext, std::string_view sha256_hex) {
  const json j = json::parse(plaintext.begin(), plaintext.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object())
    return fail(Errc::protocol, "the wormhole receiver's confirmation is not JSON");
  const std::string ack = field(j, "ack");
  if (ack != "ok")
    return fail(Errc::declined, "the wormhole receiver did not take the data (it said \"" +
                                    terminal_text(ack) + "\")");
  if (j.contains("sha256") && field(j, "sha256") != sha256_hex)
    return fail(Errc::integrity,
                "the wormhole receiver got different bytes than were sent "
                "(SHA-256 mismatch)");
  return {};
}

std::string wormhole_offer(const WormholeOffer& offer) {
  if (const auto* t = std::get_if<TextOffer>(&offer))
    return frame({{"offer", {{"message", t->message}}}});
  if (const auto* f = std::get_if<FileOffer>(&offer))
    return frame({{"offer", {{"file", {{"filename", f->name}, {"filesize", f->size}}}}}});
  const auto& d = std::get<DirectoryOffer>(offer);
  return frame({{"offer",
                 {{"directory",
                   {{"mode", "zipfile/deflated"},
                    {"dirname", d.name},
                    {"zipsize", d.zip_size},
                    {"numbytes", d.bytes},
                    {"numfiles", d.files}}}}}});
}

std::string make_wormhole_code(std::string_view nameplate, ByteView random) {
  std::string code(nameplate);
  for (std::size_t i = 0; i < random.size(); ++i)
    code += "-" + std::string((i % 2 == 0 ? pgp_odd_words() : pgp_even_words())[random[i]]);
  return code;
}

std::optional<std::string> wormhole_nameplate(std::string_view code) {
  const auto dash = code.find('-');
  if (dash == 0 || dash == std::string_view::npos || dash + 1 >= code.size()) return std::nullopt;
  const std::string_view digits = code.substr(0, dash);
  if (digits.size() > 9 || !std::all_of(digits.begin(), digits.end(), [](char c) {
        return std::isdigit(static_cast<unsigned char>(c));
      }))
    return std::nullopt;
  return std::string(digits);
}

bool looks_like_wormhole_code(std::string_view code) {
  const auto nameplate = wormhole_nameplate(code);
  if (!nameplate) return false;
  std::string_view rest = code.substr(nameplate->size() + 1);
  std::size_t words = 0;
  bool all_ferry = true;
  const auto& ferry = code_words();
  while (!rest.empty()) {
    const auto dash = rest.find('-');
    const std::string_view word = rest.substr(0, dash);
    if (!is_pgp_word(word)) return false;
    all_ferry = all_ferry && std::binary_search(ferry.begin(), ferry.end(), word);
    ++words;
    rest = dash == std::string_view::npos ? std::string_view() : rest.substr(dash + 1);
    if (dash != std::string_view::npos && rest.empty()) return false;
  }
  return words >= 2 && !all_ferry;
}

std::optional<Error> wormhole_code_typo(std::string_view code) {
  const auto nameplate = wormhole_nameplate(code);
  if (!nameplate) return std::nullopt;
  std::vector<std::string_view> words;
  for (std::string_view rest = code.substr(nameplate->size() + 1); !rest.empty();) {
    const auto dash = rest.find('-');
    words.push_back(rest.substr(0, dash));
    rest = dash == std::string_view::npos ? std::string_view() : rest.substr(dash + 1);
  }
  const auto& ferry = code_words();
  const bool wormholes = std::any_of(words.begin(), words.end(), [&](std::string_view w) {
    return is_pgp_word(w) && !std::binary_search(ferry.begin(), ferry.end(), w);
  });
  if (!wormholes) return std::nullopt;
  for (const auto word : words) {
    if (is_pgp_word(word)) continue;
    std::vector<std::string_view> list(pgp_even_words().begin(), pgp_even_words().end());
    list.insert(list.end(), pgp_odd_words().begin(), pgp_odd_words().end());
    const auto near = similar_in(word, list);
    return Error{Errc::usage, "\"" + display_word(word) +
                                  "\" is not one of magic-wormhole's code words" +
                                  (near.empty() ? std::string(" (check the code you were given)")
                                                : "; did you mean " + quoted_list(near) + "?") +
                                  " Nothing was sent, so the code is still good"};
  }
  return std::nullopt;
}

}  // namespace ferry::proto
