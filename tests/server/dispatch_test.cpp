#include "server/dispatch.hpp"

#include <gtest/gtest.h>

#include <boost/beast/http/parser.hpp>
#include <string>
#include <vector>

namespace ferry::server {
namespace {

namespace http = boost::beast::http;

// A request as it comes off the wire, through Beast's own parser.
HttpRequest parse(std::string_view wire) {
  http::request_parser<http::string_body> parser;
  boost::beast::error_code ec;
  parser.put(boost::asio::buffer(wire.data(), wire.size()), ec);
  EXPECT_FALSE(ec) << ec.message();
  EXPECT_TRUE(parser.is_header_done());
  return parser.release();
}

std::string upgrade(std::string_view target, std::string_view extra = {},
                    std::string_view host = "ferry.example") {
  return "GET " + std::string(target) + " HTTP/1.1\r\nHost: " + std::string(host) +
         "\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
         "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n" +
         std::string(extra) + "\r\n";
}

constexpr DispatchContext kOurs{.origin = "https://ferry.example"};
const std::string kTicket = "0123456789abcdef0123456789abcdef";

TEST(Dispatch, ProgramsAndOurOwnPagesReachTheRendezvous) {
  auto d = dispatch_request(parse(upgrade("/v1/rendezvous")), kOurs);
  EXPECT_EQ(d.route, Route::rendezvous);
  EXPECT_EQ(d.refusal, RequestRefusal::none);
  EXPECT_FALSE(d.page);
  d = dispatch_request(parse(upgrade("/v1/rendezvous", "Origin: https://FERRY.example\r\n")),
                       kOurs);
  EXPECT_EQ(d.refusal, RequestRefusal::none);
  EXPECT_TRUE(d.page);
}

TEST(Dispatch, OtherSitesPagesAreRefusedTheirWebSockets) {
  // magic-wormhole's mailbox too: another site's visitors may not fill its mailboxes.
  for (const auto* target : {"/v1/rendezvous", "/v1/relay", "/v1"}) {
    auto d = dispatch_request(parse(upgrade(target, "Origin: https://evil.example\r\n")), kOurs);
    EXPECT_EQ(d.refusal, RequestRefusal::cross_origin) << target;
    EXPECT_EQ(d.origin, "https://evil.example");
  }
  // wormhole's own clients send no Origin.
  EXPECT_EQ(dispatch_request(parse(upgrade("/v1")), kOurs).refusal, RequestRefusal::none);
  // Without --public-url, the page's own Host is its origin when that is an address (a LAN
  // server), and nothing else is.
  const DispatchContext unnamed{.origin = "http://127.0.0.1:4300", .origin_from_host = true};
  for (const auto* host : {"192.168.1.5:4300", "[fd00::5]:4300", "localhost:4300"}) {
    auto d = dispatch_request(
        parse(upgrade("/v1/rendezvous", "Origin: http://" + std::string(host) + "\r\n", host)),
        unnamed);
    EXPECT_EQ(d.refusal, RequestRefusal::none) << host;
  }
  auto d = dispatch_request(
      parse(upgrade("/v1/rendezvous", "Origin: http://192.168.1.6:4300\r\n", "192.168.1.5:4300")),
      unnamed);
  EXPECT_EQ(d.refusal, RequestRefusal::cross_origin);
  // A DNS name whose Origin and Host agree may be a DNS-rebinding page (the attacker's name,
  // pointed at this server after the page loaded): refused without --public-url.
  d = dispatch_request(parse(upgrade("/v1/rendezvous", "Origin: http://ferry.example\r\n")),
                       unnamed);
  EXPECT_EQ(d.refusal, RequestRefusal::cross_origin);
  // A long hostile Origin is cut for the log.
  d = dispatch_request(
      parse(upgrade("/v1/relay", "Origin: https://" + std::string(5000, 'a') + "\r\n")), kOurs);
  EXPECT_EQ(d.origin.size(), 200U);
}

TEST(Dispatch, TheRelayTakesOnlyWellFormedDownloadTickets) {
  auto d = dispatch_request(parse(upgrade("/v1/relay?down=" + kTicket)), kOurs);
  EXPECT_EQ(d.route, Route::relay);
  EXPECT_EQ(d.refusal, RequestRefusal::none);
  EXPECT_EQ(d.ticket, kTicket);
  const std::vector<std::string> bad_queries{"?down=0123", "?down=" + std::string(32, 'G'),
                                             "?up=" + kTicket, "?", "?down=" + kTicket + "0"};
  for (const auto& bad : bad_queries) {
    d = dispatch_request(parse(upgrade("/v1/relay" + bad)), kOurs);
    EXPECT_EQ(d.refusal, RequestRefusal::bad_ticket) << bad;
    EXPECT_TRUE(d.ticket.empty());
  }
}

TEST(Dispatch, ADownloadCarriesItsTicketAndCorsOnlyForOurOrigin) {
  const std::string get = "GET /v1/relay/down/" + kTicket + " HTTP/1.1\r\nHost: h\r\n";
  auto d = dispatch_request(parse(get + "\r\n"), kOurs);
  EXPECT_EQ(d.route, Route::relay_download);
  EXPECT_EQ(d.ticket, kTicket);
  EXPECT_FALSE(d.cors);
  d = dispatch_request(parse(get + "Origin: https://ferry.example\r\n\r\n"), kOurs);
  EXPECT_TRUE(d.cors);
  d = dispatch_request(parse(get + "Origin: https://evil.example\r\n\r\n"), kOurs);
  EXPECT_FALSE(d.cors);
}

TEST(Dispatch, PagesKeepTheirTargetAndPath) {
  auto d = dispatch_request(parse("GET /r?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"), kOurs);
  EXPECT_EQ(d.route, Route::page);
  EXPECT_EQ(d.target, "/r?x=1");
  EXPECT_EQ(d.path, "/r");
  d = dispatch_request(parse("GET /metrics HTTP/1.1\r\nHost: h\r\n\r\n"),
                       {.metrics_port = true, .origin = "https://ferry.example"});
  EXPECT_EQ(d.route, Route::metrics);
}

}  // namespace
}  // namespace ferry::server
