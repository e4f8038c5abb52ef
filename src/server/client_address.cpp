#include "server/client_address.hpp"

#include "net/tcp.hpp"

namespace ferry::server {

ClientAddress client_address(const boost::asio::ip::address& a) {
  const auto u = net::unmapped(a);
  ClientAddress out{u.to_string(), {}};
  if (u.is_v4()) {
    out.group = out.ip;
    return out;
  }
  auto bytes = u.to_v6().to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  out.group = boost::asio::ip::address_v6(bytes).to_string() + "/64";
  return out;
}

}  // namespace ferry::server
