// magic-wormhole's mailbox frames and file-transfer messages: what a server or peer may send.
#include "proto/wormhole_message.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

Result<WormholeAppMessage> app(std::string_view json) {
  return parse_wormhole_app_message(as_bytes(json));
}

TEST(WormholeMessage, MailboxUrlsAndTransitHelpers) {
  auto u = parse_mailbox_url("ws://127.0.0.1:4000/v1");
  ASSERT_TRUE(u);
  EXPECT_EQ(u->server.host, "127.0.0.1");
  EXPECT_EQ(u->server.port, 4000);
  EXPECT_EQ(u->target, "/v1");
  auto s = parse_mailbox_url("wss://relay.example.org/v1");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->server.tls);
  EXPECT_EQ(s->server.port, 443);
  for (const char* bad : {"http://x/v1", "ws://", "ws://a b/v1", "ws://x:99999/v1", "ws://u@x/v1"})
    EXPECT_EQ(parse_mailbox_url(bad).error().code, Errc::usage) << bad;
  auto t = parse_transit_helper("tcp:[::1]:4001");
  ASSERT_TRUE(t);
  EXPECT_EQ(t->host, "::1");
  EXPECT_EQ(t->port, 4001);
  for (const char* bad : {"tcp:host", "udp:host:1", "tcp::1", "tcp:h\x1b:1"})
    EXPECT_FALSE(parse_transit_helper(bad)) << bad;
}

TEST(WormholeMessage, MailboxFrames) {
  auto m = parse_mailbox_frame(
      R"({"type":"message","side":"abc","phase":"pake","body":"7b7d","id":"1"})");
  ASSERT_TRUE(m);
  EXPECT_EQ(m->event, MailboxEvent::message);
  EXPECT_EQ(m->phase, "pake");
  EXPECT_EQ(m->body, (Bytes{'{', '}'}));
  auto w = parse_mailbox_frame(R"({"type":"welcome","welcome":{"error":"go away"}})");
  ASSERT_TRUE(w);
  EXPECT_EQ(w->error, "go away");
  EXPECT_EQ(parse_mailbox_frame(R"({"type":"claimed"})").error().code, Errc::server_error);
  EXPECT_FALSE(parse_mailbox_frame(R"({"type":"message","body":"zz"})"));
  EXPECT_FALSE(parse_mailbox_frame("[1,2]"));
  EXPECT_FALSE(parse_mailbox_frame("not json"));
  EXPECT_EQ(parse_mailbox_frame(R"({"type":"future"})")->event, MailboxEvent::other);
  EXPECT_EQ(mailbox_add("0", as_bytes("hi")), R"({"body":"6869","phase":"0","type":"add"})");
}

TEST(WormholeMessage, OffersAreCheckedLikeFerrysOwn) {
  auto text = app(R"({"offer":{"message":"hello\u001b[2J"}})");
  ASSERT_TRUE(text && text->offer);
  EXPECT_EQ(std::get<TextOffer>(*text->offer).message, "hello\x1b[2J");  // escaped when shown
  auto file = app(R"({"offer":{"file":{"filename":"photo.jpg","filesize":1048576}}})");
  ASSERT_TRUE(file && file->offer);
  EXPECT_EQ(std::get<FileOffer>(*file->offer).name, "photo.jpg");
  EXPECT_EQ(std::get<FileOffer>(*file->offer).size, 1048576u);
  auto dir = app(
      R"({"offer":{"directory":{"mode":"zipfile/deflated","dirname":"d","zipsize":10,"numbytes":20,"numfiles":2}}})");
  ASSERT_TRUE(dir && dir->offer);
  EXPECT_EQ(std::get<DirectoryOffer>(*dir->offer).files, 2u);
  for (
      const char* bad :
      {R"({"offer":{"file":{"filename":"../x","filesize":1}}})",
       R"({"offer":{"file":{"filename":"/etc/passwd","filesize":1}}})",
       R"({"offer":{"file":{"filename":"a/b","filesize":1}}})",
       R"({"offer":{"file":{"filename":"x.ferry-part","filesize":1}}})",
       R"({"offer":{"file":{"filename":"x","filesize":-1}}})",
       R"({"offer":{"file":{"filename":"x","filesize":1e30}}})",
       R"({"offer":{"directory":{"mode":"tar","dirname":"d","zipsize":1,"numbytes":1,"numfiles":1}}})",
       R"({"offer":{"something":{}}})"})
    EXPECT_EQ(app(bad).error().code, Errc::bad_offer) << bad;
  EXPECT_EQ(app("[]").error().code, Errc::protocol);
}

TEST(WormholeMessage, TransitHintsAreBounded) {
  auto t = app(R"({"transit":{"hints-v1":[
      {"type":"direct-tcp-v1","hostname":"192.0.2.1","port":4001,"priority":0},
      {"type":"tor-tcp-v1","hostname":"x.onion","port":80},
      {"type":"direct-tcp-v1","hostname":"bad host","port":1},
      {"type":"direct-tcp-v1","hostname":"h","port":0},
      {"type":"relay-v1","hints":[{"type":"direct-tcp-v1","hostname":"relay","port":4001}]}]}})");
  ASSERT_TRUE(t && t->transit);
  ASSERT_EQ(t->transit->size(), 2u);
  EXPECT_FALSE((*t->transit)[0].relay);
  EXPECT_TRUE((*t->transit)[1].relay);
  std::string many = R"({"transit":{"hints-v1":[)";
  for (int i = 0; i < 100; ++i) many += R"({"type":"direct-tcp-v1","hostname":"h","port":1},)";
  many += "{}]}}";
  EXPECT_EQ(app(many)->transit->size(), kMaxTransitHints);
}

TEST(WormholeMessage, Nameplates) {
  EXPECT_EQ(wormhole_nameplate("7-guitarist-revenge"), "7");
  EXPECT_EQ(wormhole_nameplate("123-a-b"), "123");
  EXPECT_FALSE(wormhole_nameplate("x-a-b"));
  EXPECT_FALSE(wormhole_nameplate("-a"));
  EXPECT_FALSE(wormhole_nameplate("7-"));
  EXPECT_FALSE(wormhole_nameplate("7"));
}

TEST(WormholeMessage, WormholeCodesAreToldFromFerrys) {
  EXPECT_TRUE(looks_like_wormhole_code("7-guitarist-revenge"));
  EXPECT_TRUE(looks_like_wormhole_code("12-aardvark-adroitness-aimless"));
  EXPECT_FALSE(looks_like_wormhole_code("7-acorn-agent"));         // ferry's words
  EXPECT_FALSE(looks_like_wormhole_code("7-apple-tiger"));         // in both lists: ferry's
  EXPECT_FALSE(looks_like_wormhole_code("7-guitarist"));           // one word
  EXPECT_FALSE(looks_like_wormhole_code("7-guitarist-revenge-"));  // trailing dash
  EXPECT_FALSE(looks_like_wormhole_code("guitarist-revenge"));
  EXPECT_FALSE(looks_like_wormhole_code("7-Guitarist-revenge"));
}

TEST(WormholeMessage, SenderSide) {
  const Bytes random = {0, 255};
  EXPECT_EQ(make_wormhole_code("7", random), "7-adroitness-zulu");
  EXPECT_TRUE(looks_like_wormhole_code(make_wormhole_code("12", Bytes{1, 2})));
  // Relays go in their own relay-v1 clause; the receiver's parser reads both back.
  const std::string transit =
      wormhole_transit_message({{"192.0.2.1", 4001, false}, {"relay.example", 4002, true}});
  auto back = parse_wormhole_app_message(as_bytes(transit));
  ASSERT_TRUE(back && back->transit);
  ASSERT_EQ(back->transit->size(), 2u);
  EXPECT_FALSE((*back->transit)[0].relay);
  EXPECT_TRUE((*back->transit)[1].relay);
  EXPECT_EQ((*back->transit)[1].host, "relay.example");
  for (const WormholeOffer& o : {WormholeOffer{TextOffer{"hi"}}, WormholeOffer{FileOffer{"a", 3}},
                                 WormholeOffer{DirectoryOffer{"d", 1, 2, 3}}}) {
    auto parsed = parse_wormhole_app_message(as_bytes(wormhole_offer(o)));
    ASSERT_TRUE(parsed && parsed->offer);
    EXPECT_EQ(parsed->offer->index(), o.index());
  }
}

TEST(WormholeMessage, TransitAcks) {
  EXPECT_TRUE(check_wormhole_transit_ack(as_bytes(wormhole_transit_ack("ab")), "ab"));
  EXPECT_EQ(check_wormhole_transit_ack(as_bytes(wormhole_transit_ack("ab")), "cd").error().code,
            Errc::integrity);
  EXPECT_EQ(check_wormhole_transit_ack(as_bytes(wormhole_transit_ack_refusal()), "ab").error().code,
            Errc::declined);
  EXPECT_TRUE(check_wormhole_transit_ack(as_bytes(R"({"ack":"ok"})"), "ab"));  // old receivers
  EXPECT_EQ(check_wormhole_transit_ack(as_bytes("nope"), "ab").error().code, Errc::protocol);
}

TEST(WormholeMessage, MailboxClientFramesAreStrict) {
  auto f = parse_mailbox_client_frame(R"({"type":"add","phase":"0","body":"00","id":"ab"})");
  ASSERT_TRUE(f);
  EXPECT_EQ(f->type, MailboxRequest::add);
  EXPECT_EQ(f->id, R"("ab")");
  auto r = parse_mailbox_client_frame(R"({"type":"release"})");
  ASSERT_TRUE(r);
  EXPECT_FALSE(r->has_nameplate);
  for (const char* bad : {"[]", R"({"type":7})", R"({"type":"teleport"})",
                          R"({"type":"bind","side":"s"})", R"({"type":"claim","nameplate":["1"]})",
                          R"({"type":"add","phase":"0"})", R"({"type":"ping"})"})
    EXPECT_FALSE(parse_mailbox_client_frame(bad)) << bad;
  EXPECT_FALSE(parse_mailbox_client_frame(R"({"type":"claim","nameplate":")" +
                                          std::string(100, '1') + R"("})"));
}

TEST(WormholeMessage, TransitRelayRequests) {
  const std::string token(64, 'a');
  auto r = parse_transit_relay_request("please relay " + token + " for side 0123456789abcdef");
  ASSERT_TRUE(r);
  EXPECT_EQ(r->side, "0123456789abcdef");
  EXPECT_EQ(r->token[0], 0xaa);
  for (const std::string& bad :
       {"please relay " + token, "please relay " + token + " for side 0123",
        "please relay " + token.substr(2) + " for side 0123456789abcdef",
        "please relay " + std::string(64, 'z') + " for side 0123456789abcdef",
        std::string("GET / HTTP/1.1"),
        "please relay " + token + " for side 0123456789abcdef extra"})
    EXPECT_FALSE(parse_transit_relay_request(bad)) << bad;
}

TEST(WormholeMessage, AMistypedWormholeCodeIsJudgedAgainstWormholesWords) {
  const auto typo = wormhole_code_typo("14-adult-amusment");
  ASSERT_TRUE(typo);
  EXPECT_EQ(typo->code, Errc::usage);
  EXPECT_NE(typo->detail.find("\"amusment\" is not one of magic-wormhole's code words; did you "
                              "mean \"amusement\"?"),
            std::string::npos)
      << typo->detail;
  // Whole wormhole codes, ferry codes and ferry codes with typos are not this check's.
  EXPECT_FALSE(wormhole_code_typo("14-adult-amusement"));
  EXPECT_FALSE(wormhole_code_typo("7-tumbler-oxcart"));
  EXPECT_FALSE(wormhole_code_typo("7-tumblr-oxcart"));
  EXPECT_FALSE(wormhole_code_typo("https://example.test/r#x"));
}

}  // namespace
}  // namespace ferry::proto
