// SSDP, UPnP's discovery, as a pure codec: the M-SEARCH ferry multicasts to find an Internet
// gateway device on the LAN, and the one thing it needs from an answer, the LOCATION of the
// device's description. Answers come from anyone on the LAN: read as untrusted input, and only
// the default gateway's are used.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace ferry::proto {

inline constexpr char kSsdpAddress[] = "239.255.255.250";
inline constexpr unsigned short kSsdpPort = 1900;
// What an Internet gateway device may announce itself as (as miniupnpc's upnpDiscover asks).
inline constexpr const char* kSsdpGatewayTypes[] = {
    "urn:schemas-upnp-org:device:InternetGatewayDevice:1",
    "urn:schemas-upnp-org:service:WANIPConnection:1",
    "urn:schemas-upnp-org:service:WANPPPConnection:1", "upnp:rootdevice"};

// An M-SEARCH for devices of `type`, answered within mx seconds.
std::string ssdp_search(std::string_view type, int mx = 1);

// The LOCATION header of an answer (an http:// URL, at most 1024 characters, no control
// characters), or nothing.
std::optional<std::string> ssdp_location(std::string_view answer);

// The host of an http:// LOCATION URL ("192.168.1.1" of "http://192.168.1.1:5000/desc.xml"),
// or "" when there is none. ferry takes a description only from the default gateway: an answer
// must come from it and point at it, or any host on the LAN could pose as the router.
std::string ssdp_location_host(std::string_view url);

}  // namespace ferry::proto
