#include "server/metrics.hpp"

#include <gtest/gtest.h>

namespace ferry::server {
namespace {

TEST(Metrics, PrometheusTextWithLabelledRefusals) {
  RendezvousStats rv{3, 4};
  RelayStats relay;
  relay.active = 2;
  relay.sessions = 9;
  relay.bytes = 123456789;
  relay.refused["forged"] = 5;
  relay.refused["address_limit"] = 1;
  relay.ended["bytes"] = 2;
  ServerCounters server;
  server.connections = 7;
  server.claims_refused = 1;
  server.by_stage[static_cast<std::size_t>(ConnectionStage::websocket_unbound)] = 3;
  server.refused["cross_origin"] = 2;
  server.refused["deadline_request"] = 4;
  StunStats stun{10, 6, 1};
  const std::string text = render_metrics(rv, relay, server, stun);
  EXPECT_NE(
      text.find("# TYPE ferry_relay_bytes_total counter\nferry_relay_bytes_total 123456789\n"),
      std::string::npos);
  EXPECT_NE(text.find("ferry_rendezvous_waiting 3\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_connections 7\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_rendezvous_claims_refused_total 1\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_relay_refused_total{reason=\"forged\"} 5\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_relay_refused_total{reason=\"address_limit\"} 1\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferry_relay_ended_total{reason=\"bytes\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_connections_by_stage{stage=\"websocket_unbound\"} 3\n"),
            std::string::npos);
  EXPECT_NE(text.find("ferry_connections_by_stage{stage=\"relay\"} 0\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_refused_total{reason=\"cross_origin\"} 2\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_refused_total{reason=\"deadline_request\"} 4\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_stun_answered_total 10\n"), std::string::npos);
  EXPECT_NE(text.find("ferry_stun_limited_total{reason=\"address\"} 6\n"), std::string::npos);
  // Every sample line is "name value" or "name{labels} value".
  std::size_t pos = 0;
  while (pos < text.size()) {
    const auto end = text.find('\n', pos);
    const std::string line = text.substr(pos, end - pos);
    if (line[0] != '#') {
      EXPECT_EQ(std::count(line.begin(), line.end(), ' '), 1) << line;
    }
    pos = end + 1;
  }
}

}  // namespace
}  // namespace ferry::server
