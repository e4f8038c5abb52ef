#include "server/udp_relay.hpp"

#include <algorithm>
#include <cstring>

#include <boost/asio/ip/v6_only.hpp>

#include "net/tcp.hpp"
#include "net/udp_mux.hpp"
#include "server/server_log.hpp"

namespace ferry::server {

using namespace net;
using udp = asio::ip::udp;

namespace {
// Datagrams handled before the loop lets the server's other work run (a flood of them must not
// hold the event loop).
constexpr int kBatch = 64;

std::uint64_t unix_seconds() {
  return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::seconds>(
                                        std::chrono::system_clock::now().time_since_epoch())
                                        .count());
}
}  // namespace

UdpRelay::UdpRelay(asio::io_context& io, asio::ip::address ip, std::uint16_t port,
                   RelayLimits limits, proto::RelayKey key)
    : io_(io), ip_(std::move(ip)), port_(port), socket_(io), table_(limits, key) {}

proto::Result<void> UdpRelay::start() {
  error_code ec;
  const udp::endpoint ep(ip_, port_);
  socket_.open(ep.protocol(), ec);
  if (!ec && ep.address().is_v6()) socket_.set_option(asio::ip::v6_only(false), ec);
  if (!ec) socket_.bind(ep, ec);
  if (ec) {
    return proto::fail(proto::Errc::usage, "cannot open the relay's UDP port " + ip_.to_string() +
                                               ":" + std::to_string(port_) + ": " + ec.message());
  }
  socket_.non_blocking(true, ec);
  // Room for a burst of each direction's datagrams while the loop forwards.
  socket_.set_option(asio::socket_base::receive_buffer_size(4 << 20), ec);
  socket_.set_option(asio::socket_base::send_buffer_size(4 << 20), ec);
  want_arrival_address(socket_);
  // The peers' QUIC finds the path's MTU through the relay with its own probes: forwarded
  // datagrams are never fragmented here.
  net::send_whole_datagrams(socket_);
  port_ = socket_.local_endpoint().port();
  asio::co_spawn(io_, serve(), asio::detached);
  asio::co_spawn(io_, sweep_loop(), asio::detached);
  return {};
}

void UdpRelay::stop() {
  stopped_ = true;
  error_code ec;
  socket_.close(ec);
}

void UdpRelay::send(const UdpRelayTable::Answer& a) {
  const auto it = a.side >= 0 ? arrival_.find(a.to) : arrival_.end();
  if (it != arrival_.end()) {
    send_from(socket_, a.bytes, a.to, &it->second.first, it->second.second);
  } else {
    send_from(socket_, a.bytes, a.to, nullptr, 0);
  }
}

awaitable<void> UdpRelay::serve() {
  std::array<std::uint8_t, 2048> buf{};
  Datagram d;
  for (;;) {
    error_code ec;
    co_await socket_.async_wait(udp::socket::wait_read, redirect(ec));
    if (ec == asio::error::operation_aborted || !socket_.is_open()) co_return;
    if (ec) continue;
    for (int n = 0; receive(socket_, buf, d); ++n) {
      if (n == kBatch) {
        n = 0;
        co_await asio::post(socket_.get_executor(), use_awaitable);
        if (!socket_.is_open()) co_return;
      }
      const proto::ByteView data(buf.data(), std::min(d.size, buf.size()));
      const auto client = client_address(d.from.address());
      const auto v = table_.on_datagram(UdpRelayTable::Clock::now(), unix_seconds(), d.from,
                                        client.group, data);
      if (v.forward_to) {
        const auto it = arrival_.find(*v.forward_to);
        if (it != arrival_.end()) {
          send_from(socket_, data, *v.forward_to, &it->second.first, it->second.second);
        } else {
          send_from(socket_, data, *v.forward_to, nullptr, 0);
        }
      }
      for (const auto& a : v.answers) {
        // A side bound now: what goes to it leaves from the address it sent to.
        if (a.to == d.from && a.side >= 0) arrival_[d.from] = {d.control, d.control_size};
        send(a);
      }
    }
  }
}

awaitable<void> UdpRelay::sweep_loop() {
  asio::steady_timer timer(io_);
  while (!stopped_) {
    timer.expires_after(std::chrono::seconds(1));
    error_code ec;
    co_await timer.async_wait(redirect(ec));
    if (stopped_) co_return;
    for (const auto& a : table_.sweep(UdpRelayTable::Clock::now(), unix_seconds())) send(a);
    std::erase_if(arrival_, [&](const auto& kv) { return !table_.side_of(kv.first); });
  }
}

}  // namespace ferry::server
