#include "server/udp_socket.hpp"

#include <cstring>

namespace ferry::server {

using namespace net;

void want_arrival_address(asio::ip::udp::socket& s) {
  const int on = 1;
  if (s.local_endpoint().address().is_v6()) {
    ::setsockopt(s.native_handle(), IPPROTO_IPV6, IPV6_RECVPKTINFO, &on, sizeof on);
    // A dual-stack socket reports IPv4 arrivals through IP_PKTINFO.
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  } else {
    ::setsockopt(s.native_handle(), IPPROTO_IP, IP_PKTINFO, &on, sizeof on);
  }
}

bool receive(asio::ip::udp::socket& s, std::span<std::uint8_t> buf, Datagram& d) {
  sockaddr_storage from{};
  iovec iov{buf.data(), buf.size()};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof from;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Control control{};
  msg.msg_control = control.data();
  msg.msg_controllen = control.size();
  const ssize_t n = ::recvmsg(s.native_handle(), &msg, MSG_DONTWAIT);
  if (n < 0) return false;
  d.size = static_cast<std::size_t>(n);
  d.from.resize(msg.msg_namelen);
  std::memcpy(d.from.data(), &from, msg.msg_namelen);
  d.control_size = 0;
  d.arrival.reset();
  for (cmsghdr* c = CMSG_FIRSTHDR(&msg); c != nullptr; c = CMSG_NXTHDR(&msg, c)) {
    const bool v4 = c->cmsg_level == IPPROTO_IP && c->cmsg_type == IP_PKTINFO;
    const bool v6 = c->cmsg_level == IPPROTO_IPV6 && c->cmsg_type == IPV6_PKTINFO;
    if (!v4 && !v6) continue;
    // Sent back as is, with the interface index cleared so routing picks the way out.
    if (v4) {
      in_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi_ifindex = 0;
      info.ipi_spec_dst = info.ipi_addr;
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      asio::ip::address_v4::bytes_type b{};
      std::memcpy(b.data(), &info.ipi_addr, b.size());
      d.arrival = asio::ip::address_v4(b);
    } else {
      in6_pktinfo info{};
      std::memcpy(&info, CMSG_DATA(c), sizeof info);
      info.ipi6_ifindex = 0;
      std::memcpy(CMSG_DATA(c), &info, sizeof info);
      asio::ip::address_v6::bytes_type b{};
      std::memcpy(b.data(), &info.ipi6_addr, b.size());
      d.arrival = asio::ip::address_v6(b);
    }
    d.control_size = CMSG_SPACE(c->cmsg_len - CMSG_LEN(0));
    std::memcpy(d.control.data(), c, d.control_size);
    break;
  }
  return true;
}

void send_from(asio::ip::udp::socket& s, proto::ByteView payload, const asio::ip::udp::endpoint& to,
               const Control* control, std::size_t control_size) {
  iovec iov{const_cast<std::uint8_t*>(payload.data()), payload.size()};
  msghdr msg{};
  msg.msg_name = const_cast<sockaddr*>(to.data());
  msg.msg_namelen = static_cast<socklen_t>(to.size());
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  Control copy{};
  if (control != nullptr && control_size > 0) {
    std::memcpy(copy.data(), control->data(), control_size);
    msg.msg_control = copy.data();
    msg.msg_controllen = control_size;
  }
  // A full send buffer drops the answer, as the network might: the client asks again.
  (void)::sendmsg(s.native_handle(), &msg, MSG_DONTWAIT);
}

}  // namespace ferry::server
