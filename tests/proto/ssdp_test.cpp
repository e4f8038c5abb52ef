#include "proto/ssdp.hpp"

#include <gtest/gtest.h>

namespace ferry::proto {
namespace {

TEST(Ssdp, SearchIsAnMSearchForTheType) {
  EXPECT_EQ(ssdp_search("upnp:rootdevice"),
            "M-SEARCH * HTTP/1.1\r\nHOST: 239.255.255.250:1900\r\nST: upnp:rootdevice\r\n"
            "MAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n");
}

TEST(Ssdp, FindsTheLocationOfAnAnswer) {
  // As miniupnpd answers.
  const std::string answer =
      "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n"
      "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
      "USN: uuid:1234::urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\nEXT:\r\n"
      "SERVER: Debian/12 UPnP/1.1 MiniUPnPd/2.3.1\r\n"
      "LOCATION: http://10.1.0.1:5000/rootDesc.xml\r\nOPT: \"http://schemas.upnp.org/upnp/1/0/\"; "
      "ns=01\r\n\r\n";
  EXPECT_EQ(ssdp_location(answer), "http://10.1.0.1:5000/rootDesc.xml");
}

TEST(Ssdp, HeaderNameInAnyCaseAndSpacesAroundTheValue) {
  EXPECT_EQ(ssdp_location("HTTP/1.1 200 OK\r\nLocation:\t http://192.168.1.1/igd.xml  \r\n\r\n"),
            "http://192.168.1.1/igd.xml");
  EXPECT_EQ(ssdp_location("HTTP/1.1 200 OK\r\nlocation:http://192.168.1.1/d.xml"),
            "http://192.168.1.1/d.xml");  // no final CRLF
}

TEST(Ssdp, RefusesWhatIsNotAPlainHttpUrl) {
  EXPECT_EQ(ssdp_location("HTTP/1.1 200 OK\r\nST: x\r\n\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location(""), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATION: https://192.168.1.1/d.xml\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATION: file:///etc/passwd\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATION: http://\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATION: http://a b/d.xml\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location(std::string("LOCATION: http://a\0b/d.xml\r\n", 28)), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATION: http://a/" + std::string(2000, 'x') + "\r\n"), std::nullopt);
  EXPECT_EQ(ssdp_location("LOCATIO"), std::nullopt);
  EXPECT_EQ(ssdp_location("X-LOCATION: http://a/d.xml\r\n"), std::nullopt);
}

TEST(Ssdp, LocationHostIsWhatTheAnswerPointsAt) {
  EXPECT_EQ(ssdp_location_host("http://192.168.1.1:5000/rootDesc.xml"), "192.168.1.1");
  EXPECT_EQ(ssdp_location_host("http://10.0.0.1/desc"), "10.0.0.1");
  EXPECT_EQ(ssdp_location_host("http://[fe80::1]:80/x"), "fe80::1");
  EXPECT_EQ(ssdp_location_host("http://192.168.1.1@203.0.113.5/x"), "");  // user info: refused
  EXPECT_EQ(ssdp_location_host("https://192.168.1.1/x"), "");
  EXPECT_EQ(ssdp_location_host("http://192.168.1.1?x"), "192.168.1.1");
}

}  // namespace
}  // namespace ferry::proto
