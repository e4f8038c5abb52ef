#include "targets.hpp"

#include <sodium.h>
#include <unistd.h>

#include <boost/beast/http/parser.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <filesystem>
#include <memory>

#include "proto/code.hpp"
#include "proto/direct_code.hpp"
#include "proto/lan_discovery.hpp"
#include "proto/names.hpp"
#include "proto/offer.hpp"
#include "proto/pcp.hpp"
#include "proto/peer_message.hpp"
#include "proto/pipe_message.hpp"
#include "proto/proxy_url.hpp"
#include "proto/punch.hpp"
#include "proto/record.hpp"
#include "proto/relay_hello.hpp"
#include "proto/relay_udp.hpp"
#include "proto/rendezvous_message.hpp"
#include "proto/server_url.hpp"
#include "proto/socks5.hpp"
#include "proto/ssdp.hpp"
#include "proto/stripe.hpp"
#include "proto/stun.hpp"
#include "proto/transfer_state.hpp"
#include "proto/webrtc_sdp.hpp"
#include "proto/wormhole_crypto.hpp"
#include "proto/wormhole_message.hpp"
#include "server/dispatch.hpp"
#include "server/pages.hpp"
#include "server/rendezvous.hpp"
#include "server/server_log.hpp"
#include "server/udp_relay.hpp"
#include "server/wormhole_mailbox.hpp"
#include "session/file_sink.hpp"

namespace ferry::fuzz {
namespace {

using namespace proto;
using Seeds = std::vector<std::vector<std::uint8_t>>;

std::string_view text(const std::uint8_t* d, std::size_t n) {
  return {reinterpret_cast<const char*>(d), n};
}
std::vector<std::uint8_t> bytes(std::string_view s) {
  return {s.begin(), s.end()};
}

int rendezvous(const std::uint8_t* d, std::size_t n) {
  if (auto m = decode_client(text(d, n))) (void)encode_client(*m);
  if (auto m = decode_server(text(d, n))) (void)encode_server(*m);
  return 0;
}
Seeds rendezvous_seeds() {
  return {bytes(encode_client(rv::Allocate{"12", {}})),
          bytes(encode_client(rv::Message{{1, 2, 3}})),
          bytes(encode_server(rv::Paired{Bytes(16, 1), Bytes(32, 2), "192.0.2.1", "198.51.100.2",
                                         "http://192.0.2.3:4300"}))};
}

int pipe_message(const std::uint8_t* d, std::size_t n) {
  if (auto m = decode_pipe_message({d, n})) (void)encode(*m);
  return 0;
}
Seeds pipe_seeds() {
  const Bytes data = {1, 2, 3};
  return {encode(msg::Chunk{1, 2, data}), encode(msg::Accept{{1, 2}}), encode(msg::Abort{"a", "b"}),
          encode(msg::FileEnd{3, {}})};
}

int offer(const std::uint8_t* d, std::size_t n) {
  if (auto o = decode_offer(text(d, n))) (void)encode_offer(*o);
  return 0;
}
Seeds offer_seeds() {
  Offer o;
  o.entries = {{"d", OfferEntry::Kind::directory, 0, false},
               {"d/f", OfferEntry::Kind::file, 9, true}};
  Offer streamed;
  streamed.entries = {{"stdin", OfferEntry::Kind::file, 0, false, true}};
  return {bytes(encode_offer(o)), bytes(encode_offer(streamed)),
          bytes("{\"kind\":\"text\",\"text\":\"hi\"}")};
}

// The same bytes through both ciphers' openers (AES where this CPU has it).
int record(const std::uint8_t* d, std::size_t n) {
  for (const auto cipher : {RecordCipher::xchacha20poly1305, RecordCipher::aes256gcm}) {
    if (cipher == RecordCipher::aes256gcm && !aes256gcm_available()) continue;
    RecordParser parser(Key{}, cipher);
    parser.feed({d, n});
    Bytes out;
    bool final = false;
    for (int i = 0; i < 64; ++i) {
      auto r = parser.next(out, final);
      if (!r || !*r) break;
    }
  }
  return 0;
}
Seeds record_seeds() {
  Seeds seeds;
  for (const auto cipher : {RecordCipher::xchacha20poly1305, RecordCipher::aes256gcm}) {
    if (cipher == RecordCipher::aes256gcm && !aes256gcm_available()) continue;
    Bytes wire(kRecordHeaderBytes);
    RecordSealer sealer(Key{}, wire.data(), cipher);
    sealer.seal(as_bytes("hello"), false, wire);
    sealer.seal(as_bytes("bye"), true, wire);
    seeds.push_back(wire);
  }
  return seeds;
}

int peer(const std::uint8_t* d, std::size_t n) {
  (void)decode_note(text(d, n));
  (void)decode_receiver_pake({d, n});
  (void)decode_sender_pake({d, n});
  (void)is_version_notice({d, n});
  // A SOCKS5 proxy's answers.
  (void)socks5::parse_choice({d, std::min<std::size_t>(n, 2)}, n % 2 == 0);
  (void)socks5::parse_password_reply({d, std::min<std::size_t>(n, 2)});
  if (n >= 5) (void)socks5::reply_length({d, 5});
  (void)socks5::parse_reply({d, n});
  if (auto m = decode_stun({d, n})) (void)check_message_integrity({d, n}, *m, as_bytes("k"));
  (void)classify_datagram({d, n});
  (void)decode_probe({d, n}, Key{});
  (void)parse_direct_code("direct-" + to_base64url({d, n}));
  (void)decode_pcp_map_response({d, n});
  (void)ssdp_location({reinterpret_cast<const char*>(d), n});
  if (auto m = decode_lan({d, n})) (void)encode_lan(*m);
  // A browser's WebRTC offer (after the mailbox opened it).
  if (auto desc = webrtc::parse_description(text(d, n))) {
    (void)webrtc::format_answer(*desc, 1);
    for (const auto& c : desc->candidates)
      (void)webrtc::in_scope(c, {"198.51.100.7", "203.0.113.9"});
  }
  return 0;
}
Seeds peer_seeds() {
  return {
      bytes(encode_note(Candidates{{{Transport::tcp, "192.0.2.1", 9},
                                    {Transport::udp, "192.0.2.1", 9, CandidateKind::srflx}},
                                   true,
                                   UdpMapping::independent,
                                   Bytes(32, 1),
                                   Features{true, true}})),
      encode_probe(Probe{}, Key{}),
      encode_lan(LanAnswer{"12", Bytes(kLanNonceBytes, 1), 4302, Bytes(kLanNonceBytes, 2)}),
      bytes(encode_note(PeerAbort{"no_path", "x"})),
      encode(ReceiverPake{}),
      encode_version_notice(),
      encode_binding_request(StunTransactionId{}, kStunChangePort),
      encode_binding_response(BindingResponse{{}, false, {}, IpPort{Bytes(4, 1), 2}, {}, {}, "f"})};
}

int names_and_codes(const std::uint8_t* d, std::size_t n) {
  const auto t = text(d, n);
  (void)split_relative_path(t);
  (void)display_name(t);
  (void)parse_code(t);
  (void)parse_link(t);
  (void)parse_server_url(t);
  (void)parse_proxy_url(t);
  (void)no_proxy_matches(t, "example.org");
  return 0;
}
Seeds names_seeds() {
  return {bytes("photos/a.jpg"), bytes("7-tumbler-oxcart"),
          bytes("http://h:1/r#7-AAAAAAAAAAAAAAAAAAAAAA"), bytes("http://[::1]:4300/base")};
}

// The relay's side of a pairing: a hello (side and grant), the grant's signature and expiry under
// the server's key, then frame headers and the end-of-session status.
int relay_handshake(const std::uint8_t* d, std::size_t n) {
  static const RelayKey key = [] {
    RelayKey k{};
    k.fill(5);
    return k;
  }();
  if (auto hello = decode_relay_hello({d, n})) {
    RelayGrant grant;
    (void)check_relay_grant(key, hello->grant, 1000, grant);
    (void)encode(*hello);
  }
  RelayGrant grant;
  (void)check_relay_grant(key, {d, n}, 1000, grant);
  if (n >= kRelayFrameHeaderBytes) (void)decode_relay_frame_header(d);
  (void)decode_relay_end({d, n}, "relay");
  return 0;
}
Seeds relay_seeds() {
  RelayKey key{};
  key.fill(5);
  RelayHello hello{};
  const auto grant = sign_relay_grant(key, RelayGrant{{}, 5000});
  std::copy(grant.begin(), grant.end(), hello.grant.begin());
  return {encode(hello), grant, encode_relay_end(RelayStatus::limit, "x")};
}

// The relay over UDP's table fed datagrams from four addresses: records of [op][address (0-3)]
// [seconds to wait (0-15)][len][bytes]. op 0 sends the bytes as they are; op 1 binds the address
// to a side of one of two sessions the honest way (the bind, the relay's challenge, the bind with
// its cookie), so pairs form and the raw datagrams meet bound sides; op 2 runs the sweep; op 3
// sends an honest unbind of that side (freed only where that address holds it). Whatever
// arrives: answers never outweigh what earned them (nor go anywhere but to the sender or a bound
// side), forwards go only from one bound address to another, and the counts stay consistent.
int relay_udp(const std::uint8_t* d, std::size_t n) {
  using Table = server::UdpRelayTable;
  // The table logs each pairing and ending; thousands of them a second say nothing here.
  static const bool quiet = [] {
    server::configure_server_log(spdlog::level::warn, server::LogFormat::text);
    return true;
  }();
  (void)quiet;
  static const RelayKey key = [] {
    RelayKey k{};
    k.fill(6);
    return k;
  }();
  server::RelayLimits limits;
  limits.max_bytes = 4000;
  limits.rate = 2000;
  limits.per_address = 3;
  limits.max_duration = std::chrono::seconds(40);
  Table table(limits, key);
  const std::array<Table::Endpoint, 4> from = {
      Table::Endpoint(boost::asio::ip::make_address("198.51.100.1"), 1000),
      Table::Endpoint(boost::asio::ip::make_address("198.51.100.1"), 1001),
      Table::Endpoint(boost::asio::ip::make_address("203.0.113.2"), 2000),
      Table::Endpoint(boost::asio::ip::make_address("::ffff:203.0.113.3"), 3000)};
  auto now = Table::Clock::time_point{};
  const std::uint64_t unix_now = 10'000;
  const auto check = [&](const Table::Verdict& v, std::size_t sent, std::size_t who) {
    for (const auto& a : v.answers) {
      // Only a bind (62 bytes) earns an answer to its sender, and an answer is 21 bytes.
      if (a.bytes.size() != kRelayAnswerBytes) __builtin_trap();
      if (a.side < 0 && (a.to != from[who] || sent != kRelayBindBytes)) __builtin_trap();
      if (std::find(from.begin(), from.end(), a.to) == from.end()) __builtin_trap();
    }
    if (v.forward_to) {
      if (*v.forward_to == from[who] || !table.side_of(*v.forward_to) ||
          !table.side_of(from[who])) {
        __builtin_trap();
      }
    }
    const auto& st = table.stats();
    if (st.bound > from.size() || st.active * 2 > st.bound) __builtin_trap();
  };
  std::size_t i = 0;
  while (i + 4 <= n) {
    const std::uint8_t op = d[i] % 4;
    const std::size_t who = d[i + 1] % from.size();
    now += std::chrono::seconds(d[i + 2] % 16);
    const std::size_t len = std::min<std::size_t>(d[i + 3], n - i - 4);
    const ByteView body(d + i + 4, len);
    i += 4 + len;
    if (op == 0) {
      check(table.on_datagram(now, unix_now, from[who], "g" + std::to_string(who % 3), body), len,
            who);
    } else if (op == 1 || op == 3) {
      RelayBind b;
      b.side = len % 2 == 0 ? Side::sender : Side::receiver;
      const auto grant = sign_relay_grant(key, RelayGrant{{static_cast<std::uint8_t>(len % 4 / 2)},
                                                          unix_now + (len % 8 == 7 ? 0 : 500)});
      std::copy(grant.begin(), grant.end(), b.grant.begin());
      const std::string group = "g" + std::to_string(who % 3);
      if (op == 3) {
        b.unbind = true;
        const auto held = table.side_of(from[who]);
        const std::size_t bound = table.stats().bound;
        const auto v = table.on_datagram(now, unix_now, from[who], group, encode(b));
        if (!v.answers.empty() || v.forward_to) __builtin_trap();  // never answered nor sent on
        // Freed exactly when this address held that side of that session.
        const bool holds = held &&
                           held->first == RelaySessionId{static_cast<std::uint8_t>(len % 4 / 2)} &&
                           held->second == (b.side == Side::sender ? 0 : 1);
        if (table.stats().bound != bound - (holds ? 1 : 0) || (holds && table.side_of(from[who])))
          __builtin_trap();
        continue;
      }
      auto v = table.on_datagram(now, unix_now, from[who], group, encode(b));
      check(v, kRelayBindBytes, who);
      for (const auto& a : v.answers) {
        const auto answer = decode_relay_answer(a.bytes);
        if (!answer) __builtin_trap();
        if (answer->status == RelayStatus::challenge) b.cookie = answer->cookie;
      }
      check(table.on_datagram(now, unix_now, from[who], group, encode(b)), kRelayBindBytes, who);
    } else {
      for (const auto& a : table.sweep(now, unix_now)) {
        if (std::find(from.begin(), from.end(), a.to) == from.end()) __builtin_trap();
      }
    }
  }
  return 0;
}
Seeds relay_udp_seeds() {
  // Two sides bind one session, then datagrams go both ways, then the byte cap.
  return {{1, 0, 0, 0, 1, 2, 0, 1, 0, 0, 1, 0x43, 0, 2, 1, 5, 0x43, 1, 2, 3, 4, 2, 0, 15, 0},
          {1, 3, 1, 2, 1, 1, 0, 3, 0, 1, 0, 62, 0},
          // Both bind, the sender unbinds, then sends (nowhere now).
          {1, 0, 0, 0, 1, 2, 0, 1, 3, 0, 0, 0, 0, 0, 1, 1, 0x43}};
}

// The rendezvous state machine fed a conversation: records of [client (0-3)][op][len][json]:
// op 0 a message from that client, op 1 its disconnect. Four clients, so pairs, waiting
// receivers and strangers meet; whatever they send, nothing crashes and the books balance.
class FuzzClient : public server::Client {
 public:
  void deliver(const ServerMessage&) override { ++delivered; }
  void kick(std::string_view, std::string_view) override { ++kicked; }
  std::string observed_address() const override { return "192.0.2.1"; }
  int delivered = 0;
  int kicked = 0;
};

int rendezvous_sequence(const std::uint8_t* d, std::size_t n) {
  server::Rendezvous rv(server::RendezvousLimits{8, 4}, [](const Bytes& sid) { return sid; });
  std::array<FuzzClient, 4> clients;
  std::array<bool, 4> gone{};
  for (std::size_t at = 0; at + 3 <= n;) {
    const std::size_t who = d[at] % clients.size();
    const std::uint8_t op = d[at + 1];
    const std::size_t len = std::min<std::size_t>(d[at + 2], n - at - 3);
    const auto body = text(d + at + 3, len);
    at += 3 + len;
    if (gone[who]) continue;
    if (op % 2 == 1) {
      rv.on_disconnect(clients[who]);
      gone[who] = true;
    } else if (auto m = decode_client(body)) {
      rv.on_message(clients[who], *m);
    }
  }
  for (std::size_t i = 0; i < clients.size(); ++i) {
    if (!gone[i]) rv.on_disconnect(clients[i]);
  }
  const auto stats = rv.stats();
  if (stats.waiting != 0 || stats.receivers_waiting != 0 || stats.paired != 0) __builtin_trap();
  return 0;
}
Seeds rendezvous_sequence_seeds() {
  // (Built as a string: g++ 12 misreports a vector's insert after a braced start as out of bounds.)
  const auto rec = [](std::uint8_t who, std::uint8_t op, const std::string& json) {
    std::string out;
    out += static_cast<char>(who);
    out += static_cast<char>(op);
    out += static_cast<char>(json.size());
    out += json;
    return bytes(out);
  };
  std::vector<std::uint8_t> pair = rec(0, 0, encode_client(rv::Allocate{"12", {}}));
  for (auto part : {rec(1, 0, encode_client(rv::Claim{"12", false})),
                    rec(1, 0, encode_client(rv::Message{{1, 2, 3}})),
                    rec(0, 0, encode_client(rv::Message{{4}})), rec(0, 1, "")}) {
    pair.insert(pair.end(), part.begin(), part.end());
  }
  std::vector<std::uint8_t> waiting = rec(2, 0, encode_client(rv::Claim{"7", true}));
  for (auto part : {rec(3, 0, encode_client(rv::Allocate{"7", {}})), rec(2, 1, "")}) {
    waiting.insert(waiting.end(), part.begin(), part.end());
  }
  return {pair, waiting};
}

// The pages `ferry serve` answers for any request target: never a crash, never the target echoed
// into HTML unescaped.
int http_pages(const std::uint8_t* d, std::size_t n) {
  const auto t = text(d, n);
  const auto nl = t.find('\n');
  const auto target = t.substr(0, nl);
  const auto public_url =
      nl == std::string_view::npos ? std::string_view("http://h") : t.substr(nl + 1);
  const auto page = server::page_for(target, public_url);
  if (page.content_type.starts_with("text/html") && target.find("<q>") != std::string_view::npos &&
      page.body.find("<q>") != std::string::npos) {
    __builtin_trap();  // a reflected tag
  }
  return 0;
}
Seeds http_seeds() {
  return {bytes("/"),
          bytes("/r"),
          bytes("/app/receive-page.js"),
          bytes("/s\nhttps://ferry.example"),
          bytes("/../../etc/passwd"),
          bytes("/<q>")};
}

// The server's whole HTTP dispatch for a hostile client's bytes: Beast's request parser with the
// server's limits (fed in two pieces, split where the first byte says), then dispatch_request
// (route, WebSocket upgrade, Origin check, relay download ticket) and, for pages, page_for.
// Input: [flags][split][request bytes]. Checks what must hold whatever the bytes: a browser's
// WebSocket goes on only from our origin (or its own Host without --public-url), a relay ticket
// that goes on is well formed, an upgrade is never a download, no tag is reflected into a page.
int http_dispatch(const std::uint8_t* d, std::size_t n) {
  namespace http = boost::beast::http;
  if (n < 2) return 0;
  const std::uint8_t flags = d[0];
  const std::size_t split = std::min<std::size_t>(d[1], n - 2);
  const auto wire = text(d + 2, n - 2);
  http::request_parser<http::string_body> parser;
  parser.body_limit(std::uint64_t{64} * 1024);
  parser.header_limit(8 * 1024);
  parser.eager(true);
  // As http::async_read does: what has arrived goes to the parser until it has a request; the
  // second piece arrives when it asks for more.
  boost::beast::error_code ec;
  std::size_t at = 0;
  std::size_t arrived = split;
  while (!parser.is_done()) {
    const std::size_t used = parser.put(boost::asio::buffer(wire.data() + at, arrived - at), ec);
    at += used;
    if (ec == http::error::need_more && arrived < wire.size()) {
      arrived = wire.size();
      ec = {};
      continue;
    }
    if (ec == http::error::need_more) {  // the client closed: as http::read would say
      if (!parser.got_some()) return 0;
      ec = {};
      parser.put_eof(ec);
      if (!ec && !parser.is_done()) return 0;
    }
    if (ec || (used == 0 && !parser.is_done())) return 0;
  }
  const auto req = parser.release();
  const server::DispatchContext ctx{.metrics_port = (flags & 1) != 0,
                                    .metrics_elsewhere = (flags & 2) != 0,
                                    .origin = "https://ferry.example",
                                    .origin_from_host = (flags & 4) != 0};
  const auto got = server::dispatch_request(req, ctx);
  const auto origin = req.find(http::field::origin);
  const bool websocket =
      got.route == server::Route::rendezvous || got.route == server::Route::relay;
  if (websocket && got.refusal == server::RequestRefusal::none && origin != req.end() &&
      !server::same_origin(origin->value(), ctx.origin) && !ctx.origin_from_host) {
    __builtin_trap();  // another site's page let through
  }
  if (got.route == server::Route::relay && got.refusal == server::RequestRefusal::none &&
      !got.ticket.empty() && !server::valid_ticket(got.ticket)) {
    __builtin_trap();  // a malformed ticket let through
  }
  if (got.route == server::Route::relay_download && boost::beast::websocket::is_upgrade(req)) {
    __builtin_trap();
  }
  if (got.path.size() > got.target.size() || got.origin.size() > 200) __builtin_trap();
  if (got.route == server::Route::page) {
    const auto page = server::page_for(got.target, "https://ferry.example");
    if (page.content_type.starts_with("text/html") && got.target.find("<q>") != std::string::npos &&
        page.body.find("<q>") != std::string::npos) {
      __builtin_trap();  // a reflected tag
    }
  }
  return 0;
}
Seeds http_dispatch_seeds() {
  const auto seed = [](std::uint8_t flags, std::string_view request) {
    std::string out;
    out += static_cast<char>(flags);
    out += static_cast<char>(request.size() / 2);
    out += request;
    return bytes(out);
  };
  constexpr std::string_view kUpgrade =
      "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "
      "dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";
  const auto ws = [&](std::string_view target, std::string_view extra) {
    return "GET " + std::string(target) + " HTTP/1.1\r\nHost: ferry.example\r\n" +
           std::string(kUpgrade) + std::string(extra) + "\r\n";
  };
  return {seed(0, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"),
          seed(0, "GET /r?<q> HTTP/1.1\r\nHost: h\r\n\r\n"),
          seed(0, "HEAD /app/send-page.js HTTP/1.0\r\n\r\n"),
          seed(0, ws("/v1/rendezvous", "")),
          seed(0, ws("/v1/rendezvous", "Origin: https://evil.example\r\n")),
          seed(4, ws("/v1/rendezvous", "Origin: http://ferry.example\r\n")),
          seed(0, ws("/v1/relay?down=0123456789abcdef0123456789abcdef",
                     "Origin: https://ferry.example\r\n")),
          seed(0, ws("/v1/relay?down=0123", "")),
          seed(0,
               "GET /v1/relay/down/0123456789abcdef0123456789abcdef HTTP/1.1\r\nHost: h\r\n"
               "Origin: https://ferry.example\r\n\r\n"),
          seed(1, "GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),
          seed(2, "POST /metrics HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\n\r\nabc"),
          seed(0, "GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n")};
}

// What a receiver does with a hostile sender's offer and records, on a real folder: the file sink
// with its checks, the tracker's order and sizes, commit and discard. Input: [offer length u16]
// [offer JSON][records: length u16, pipe message]. Nothing may land outside the folder.
int receive_files(const std::uint8_t* d, std::size_t n) {
  namespace fs = std::filesystem;
  static const fs::path root = [] {
    char tmpl[] = "/tmp/ferry-fuzz-sink-XXXXXX";
    return fs::path(::mkdtemp(tmpl));
  }();
  if (n < 2) return 0;
  const std::size_t offer_len = std::min<std::size_t>((d[0] << 8) | d[1], n - 2);
  auto offer = decode_offer(text(d + 2, offer_len));
  if (!offer || offer->kind != Offer::Kind::files) return 0;
  std::error_code ec;
  const fs::path folder = root / "target";
  fs::remove_all(folder, ec);
  auto sink = session::FileSink::open(folder, false);
  if (!sink || !sink->check(*offer) || !sink->make_folders(*offer)) return 0;
  const auto offsets = sink->resume_offsets(*offer);
  // Both hash scopes, picked by the offer length's parity (the corpus keeps its meaning).
  ReceiveTracker tracker(*offer, offsets,
                         offer_len % 2 == 0 ? HashScope::whole_file : HashScope::prefix);
  std::size_t open_file = offer->entries.size();
  for (std::size_t at = 2 + offer_len; at + 2 <= n;) {
    const std::size_t len = std::min<std::size_t>((d[at] << 8) | d[at + 1], n - at - 2);
    auto m = decode_pipe_message({d + at + 2, len});
    at += 2 + len;
    if (!m) break;
    // As receive.cpp does: bytes only for the tracker's current entry, opened once.
    const auto ensure_open = [&](std::uint32_t file) {
      if (file != tracker.current() || file >= offer->entries.size()) return false;
      if (open_file == file) return true;
      open_file = file;
      return sink->begin(*offer, file, offsets[file], tracker).has_value();
    };
    if (const auto* c = std::get_if<msg::Chunk>(&*m)) {
      if (!ensure_open(c->file) || !tracker.on_chunk(*c) || !sink->write(c->data)) break;
    } else if (const auto* e = std::get_if<msg::FileEnd>(&*m)) {
      if (!ensure_open(e->file)) break;
      if (!tracker.on_file_end(*e)) {
        sink->discard();
        break;
      }
      (void)sink->commit();
      open_file = offer->entries.size();
    } else {
      break;
    }
  }
  sink->abandon();
  // Only the target folder, ever.
  for (const auto& entry : fs::directory_iterator(root)) {
    if (entry.path().filename() != "target") __builtin_trap();
  }
  return 0;
}
Seeds receive_seeds() {
  const auto with_len = [](std::vector<std::uint8_t>& out, const Bytes& b) {
    out.push_back(static_cast<std::uint8_t>(b.size() >> 8));
    out.push_back(static_cast<std::uint8_t>(b.size()));
    out.insert(out.end(), b.begin(), b.end());
  };
  Offer o;
  o.entries = {{"d", OfferEntry::Kind::directory, 0, false},
               {"d/f", OfferEntry::Kind::file, 3, false},
               {"g", OfferEntry::Kind::file, 0, false}};
  const Bytes data = {1, 2, 3};
  FileHasher h;
  h.update(data);
  FileHasher empty;
  std::vector<std::uint8_t> seed;
  with_len(seed, bytes(encode_offer(o)));
  with_len(seed, encode(msg::Chunk{1, 0, data}));
  with_len(seed, encode(msg::FileEnd{1, h.finish()}));
  with_len(seed, encode(msg::FileEnd{2, empty.finish()}));
  return {seed};
}

// What a wormhole mailbox server or sender sends: frames, application messages (offers, hints),
// SPAKE2 messages, transit records, and codes and URLs typed by a person.
int wormhole(const std::uint8_t* d, std::size_t n) {
  (void)parse_mailbox_frame(text(d, n));
  if (auto m = parse_wormhole_app_message({d, n}); m && m->transit)
    (void)wormhole_transit_message(*m->transit);
  static const auto spake = Spake2Symmetric::start(as_bytes("4-purple-sausages"),
                                                   as_bytes(kWormholeAppId), Ed25519Scalar{7});
  (void)spake->finish({d, n});
  TransitRecords records(WormholeKey{}, TransitRole::receiver);
  (void)records.open({d, n});
  (void)looks_like_wormhole_code(text(d, n));
  (void)parse_mailbox_client_frame(text(d, n));
  (void)parse_transit_relay_request(text(d, n));
  (void)parse_mailbox_url(text(d, n));
  (void)parse_transit_helper(text(d, n));
  return 0;
}
Seeds wormhole_seeds() {
  TransitRecords sender(WormholeKey{}, TransitRole::sender);
  const Bytes record = sender.seal(as_bytes("hello"));
  return {bytes(R"({"type":"message","side":"a","phase":"0","body":"7b7d"})"),
          bytes(R"({"offer":{"file":{"filename":"a.txt","filesize":3}},"transit":{"hints-v1":[)"
                R"({"type":"direct-tcp-v1","hostname":"192.0.2.1","port":4001},{"type":"relay-v1",)"
                R"("hints":[{"type":"direct-tcp-v1","hostname":"h","port":1}]}]}})"),
          bytes(R"({"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":1,)"
                R"("numbytes":1,"numfiles":1}}})"),
          Bytes(record.begin() + 4, record.end()),
          bytes("7-guitarist-revenge"),
          bytes("ws://127.0.0.1:4000/v1")};
}

// A sequence of mailbox frames, one per line, from three clients (the first byte of a line picks
// which): the state must stay within its limits and every frame gets an answer.
int wormhole_mailbox(const std::uint8_t* d, std::size_t n) {
  struct Peer : server::MailboxPeer {
    std::size_t frames = 0;
    void deliver(std::string) override { ++frames; }
  };
  server::WormholeMailbox mailbox{{.max_nameplates = 4,
                                   .max_mailboxes = 4,
                                   .max_messages = 4,
                                   .max_mailbox_bytes = 600,
                                   .max_stored_bytes = 1000,
                                   .max_listeners = 2,
                                   .max_errors = 1000}};
  Peer peers[3];
  for (auto& p : peers) mailbox.on_connect(p);
  std::string_view rest = text(d, n);
  while (!rest.empty()) {
    const auto nl = rest.find('\n');
    const std::string_view line = rest.substr(0, nl);
    rest = nl == std::string_view::npos ? std::string_view() : rest.substr(nl + 1);
    if (line.empty()) continue;
    Peer& p = peers[static_cast<unsigned char>(line[0]) % 3];
    const std::size_t before = p.frames;
    mailbox.on_frame(p, line.substr(1), 0);
    if (p.frames == before) __builtin_trap();  // every frame is acked or answered
    const auto st = mailbox.stats();
    if (st.nameplates > 4 || st.mailboxes > 4 || st.stored_bytes > 1000) __builtin_trap();
  }
  for (auto& p : peers) mailbox.on_disconnect(p);
  const auto st = mailbox.stats();
  if (st.clients != 0 || st.nameplates != 0 || st.mailboxes != 0 || st.stored_bytes != 0) {
    __builtin_trap();
  }
  return 0;
}
Seeds wormhole_mailbox_seeds() {
  return {
      bytes("0{\"type\":\"bind\",\"appid\":\"a\",\"side\":\"s0\"}\n"
            "1{\"type\":\"bind\",\"appid\":\"a\",\"side\":\"s1\"}\n"
            "0{\"type\":\"allocate\"}\n0{\"type\":\"claim\",\"nameplate\":\"1\"}\n"
            "1{\"type\":\"claim\",\"nameplate\":\"1\"}\n"
            "0{\"type\":\"add\",\"phase\":\"pake\",\"body\":\"00\"}\n"
            "1{\"type\":\"release\"}\n0{\"type\":\"close\",\"mood\":\"happy\"}\n")};
}

// Wide TCP's receiving end: a member's preamble, then frames a peer chose (offset, length; the
// bytes are the offset's low byte, so order can be checked) given to a Reassembler with a small
// bound, between reads. Records of [op][u16 offset from the next byte in order][u16 length or
// bytes to read]: op 0 adds a frame the way a member does (only when admitted), op 1 adds it
// anyway (a broken peer), op 2 reads. Whatever comes: the bytes read are exactly the stream, in
// order; a frame is admitted past the bound only when it is the one the stream waits for; a
// refused frame changes nothing.
// The same bytes as members arriving at a listener (token, address, index, count, time passed):
// what it holds is exactly what arrived and was neither made a pipe nor dropped, a complete
// group is its count of members of one token and address by index, a refused one changes nothing.
void gather_members(const std::uint8_t* d, std::size_t n) {
  using Gather = stripe::Gathering<std::uint32_t, std::uint8_t>;
  Gather g;
  auto now = Gather::Clock::time_point{};
  std::size_t held = 0;
  for (std::uint32_t i = 0; i + 5 <= n; i += 5) {
    stripe::Preamble p;
    p.token.fill(static_cast<std::uint8_t>(d[i] % 4));
    const auto from = static_cast<std::uint8_t>(d[i + 1] % 2);
    p.index = static_cast<std::uint8_t>(d[i + 2] % 10);
    p.count = static_cast<std::uint8_t>(d[i + 3] % 10);
    // A member is its token, address and index, packed: a complete group's must match.
    const std::uint32_t m = (p.token[0] * 2U + from) * 16U + p.index;
    const auto added = g.add(p, from, m, i, now);
    switch (added.verdict) {
      case Gather::Verdict::refused:
        break;
      case Gather::Verdict::first:
      case Gather::Verdict::joined:
        ++held;
        break;
      case Gather::Verdict::complete:
        if (added.members.size() != p.count || held + 1 < p.count) __builtin_trap();
        for (std::uint32_t k = 0; k < added.members.size(); ++k) {
          if (added.members[k] != (m & ~15U) + k) __builtin_trap();
        }
        held -= p.count - 1;
        break;
    }
    now += std::chrono::milliseconds(d[i + 4] * 40);
    for (const auto& dropped : g.expire(now)) {
      if (dropped.arrived >= dropped.count || dropped.arrived > held) __builtin_trap();
      held -= dropped.arrived;
    }
    if (g.held() != held || g.held(from) > held) __builtin_trap();
  }
}

int wide_tcp(const std::uint8_t* d, std::size_t n) {
  (void)stripe::decode_preamble({d, std::min(n, stripe::kPreambleBytes)});
  if (n >= stripe::kFrameHeaderBytes) (void)stripe::decode_frame_header(d);
  constexpr std::size_t kLimit = 4096;
  stripe::Reassembler r(kLimit);
  std::uint64_t in_order = 0;  // bytes read so far
  std::uint64_t next = 0;      // bytes put in order so far (read or ready)
  Bytes out(70000);
  for (std::size_t i = 0; i + 5 <= n; i += 5) {
    const std::uint8_t op = d[i] % 3;
    // An offset below 0x8000 lies ahead of the next byte in order, one above behind it.
    const std::uint16_t rel = read_u16(d + i + 1);
    const std::uint64_t back = rel & 0x7fff;
    const std::uint64_t offset = rel < 0x8000 ? next + rel : next - std::min(next, back);
    const std::size_t len = read_u16(d + i + 3);
    if (op == 2) {
      const std::size_t got = r.take(out.data(), len);
      for (std::size_t k = 0; k < got; ++k) {
        if (out[k] != static_cast<std::uint8_t>(in_order + k)) __builtin_trap();
      }
      in_order += got;
      continue;
    }
    if (op == 0 && !r.admits(offset)) continue;
    const std::size_t before = r.ready() + r.held_bytes();
    const std::size_t cost_before = r.cost();
    Bytes frame(len);
    for (std::size_t k = 0; k < len; ++k) frame[k] = static_cast<std::uint8_t>(offset + k);
    if (r.add(offset, std::move(frame))) {
      // Past the bound (bytes and each frame's overhead) only the awaited frame gets in.
      if (op == 0 && cost_before >= kLimit && offset != next) __builtin_trap();
      if (offset == next) next = in_order + r.ready();
    } else if (r.ready() + r.held_bytes() != before) {
      __builtin_trap();  // a refused frame changes nothing
    }
  }
  gather_members(d, n);
  return 0;
}
Seeds wide_tcp_seeds() {
  stripe::Preamble p;
  p.count = 4;
  const auto pre = stripe::encode(p);
  Bytes ops(pre.begin(), pre.end());
  for (const auto& [op, off, len] :
       {std::tuple{0, 100, 100}, {0, 0, 100}, {2, 0, 150}, {1, 10, 20}, {0, 0, 50}, {2, 0, 1000}}) {
    append_u8(ops, static_cast<std::uint8_t>(op));
    append_u16(ops, static_cast<std::uint16_t>(off));
    append_u16(ops, static_cast<std::uint16_t>(len));
  }
  return {ops};
}

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"rendezvous_message", rendezvous, rendezvous_seeds},
      {"pipe_message", pipe_message, pipe_seeds},
      {"offer", offer, offer_seeds},
      {"record", record, record_seeds},
      {"peer_message", peer, peer_seeds},
      {"names_codes_urls", names_and_codes, names_seeds},
      {"relay_handshake", relay_handshake, relay_seeds},
      {"rendezvous_sequence", rendezvous_sequence, rendezvous_sequence_seeds},
      {"http_pages", http_pages, http_seeds},
      {"http_dispatch", http_dispatch, http_dispatch_seeds},
      {"receive_files", receive_files, receive_seeds},
      {"wormhole_message", wormhole, wormhole_seeds},
      {"wormhole_mailbox", wormhole_mailbox, wormhole_mailbox_seeds},
      {"relay_udp", relay_udp, relay_udp_seeds},
      {"wide_tcp", wide_tcp, wide_tcp_seeds},
  };
  return all;
}

}  // namespace ferry::fuzz
