#include "targets.hpp"

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
#include "proto/rendezvous_message.hpp"
#include "proto/server_url.hpp"
#include "proto/ssdp.hpp"
#include "proto/stun.hpp"

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
  return {bytes(encode_client(rv::Allocate{"12"})), bytes(encode_client(rv::Message{{1, 2, 3}})),
          bytes(encode_server(rv::Paired{Bytes(16, 1), Bytes(32, 2), "192.0.2.1", "198.51.100.2"}))};
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

int record(const std::uint8_t* d, std::size_t n) {
  RecordParser parser(Key{});
  parser.feed({d, n});
  Bytes out;
  bool final = false;
  for (int i = 0; i < 64; ++i) {
    auto r = parser.next(out, final);
    if (!r || !*r) break;
  }
  return 0;
}
Seeds record_seeds() {
  Bytes wire(kRecordHeaderBytes);
  RecordSealer sealer(Key{}, wire.data());
  sealer.seal(as_bytes("hello"), false, wire);
  sealer.seal(as_bytes("bye"), true, wire);
  return {wire};
}

int peer(const std::uint8_t* d, std::size_t n) {
  (void)decode_note(text(d, n));
  (void)decode_receiver_pake({d, n});
  (void)decode_sender_pake({d, n});
  (void)decode_relay_hello({d, n});
  if (n >= kRelayFrameHeaderBytes) (void)decode_relay_frame_header(d);
  (void)decode_relay_end({d, n}, "relay");
  RelayGrant grant;
  (void)check_relay_grant(RelayKey{}, {d, n}, 0, grant);
  if (auto m = decode_stun({d, n})) (void)check_message_integrity({d, n}, *m, as_bytes("k"));
  (void)classify_datagram({d, n});
  (void)decode_probe({d, n}, Key{});
  (void)parse_direct_code("direct-" + to_base64url({d, n}));
  (void)decode_pcp_map_response({d, n});
  (void)ssdp_location({reinterpret_cast<const char*>(d), n});
  if (auto m = decode_lan({d, n})) (void)encode_lan(*m);
  return 0;
}
Seeds peer_seeds() {
  return {
      bytes(encode_note(Candidates{{{"tcp", "192.0.2.1", 9}, {"udp", "192.0.2.1", 9, "srflx"}},
                                   true,
                                   UdpMapping::independent,
                                   Bytes(32, 1)})),
      encode_probe(Probe{}, Key{}),
      encode_lan(LanAnswer{"12", Bytes(kLanNonceBytes, 1), 4302, Bytes(kLanNonceBytes, 2)}),
      bytes(encode_note(PeerAbort{"no_path", "x"})),
      encode(ReceiverPake{}),
      encode(RelayHello{}),
      encode_relay_end(RelayStatus::limit, "x"),
      sign_relay_grant(RelayKey{}, RelayGrant{{}, 9}),
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

}  // namespace

const std::vector<Target>& targets() {
  static const std::vector<Target> all = {
      {"rendezvous_message", rendezvous, rendezvous_seeds},
      {"pipe_message", pipe_message, pipe_seeds},
      {"offer", offer, offer_seeds},
      {"record", record, record_seeds},
      {"peer_message", peer, peer_seeds},
      {"names_codes_urls", names_and_codes, names_seeds},
  };
  return all;
}

}  // namespace ferry::fuzz
