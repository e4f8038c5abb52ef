#include "net/stun_client.hpp"

#include <sodium.h>

#include <boost/asio/ip/udp.hpp>
#include <map>

#include "net/tcp.hpp"

namespace ferry::net {

using udp = asio::ip::udp;

namespace {

struct Probe {
  udp::endpoint to;
  std::uint32_t change = 0;
  std::optional<proto::StunMessage> answer;
};

// Sends each probe (again every 200 ms) until all are answered or the deadline passes.
awaitable<void> run_probes(udp::socket& socket, std::vector<Probe>& probes,
                           std::chrono::steady_clock::time_point deadline) {
  std::map<proto::StunTransactionId, std::size_t> by_id;
  std::vector<proto::Bytes> requests;
  for (std::size_t i = 0; i < probes.size(); ++i) {
    proto::StunTransactionId id{};
    randombytes_buf(id.data(), id.size());
    by_id[id] = i;
    requests.push_back(proto::encode_binding_request(id, probes[i].change));
  }
  auto ex = co_await asio::this_coro::executor;
  std::array<std::uint8_t, 1500> buf{};
  std::size_t answered = 0;
  while (answered < probes.size() && std::chrono::steady_clock::now() < deadline) {
    for (std::size_t i = 0; i < probes.size(); ++i) {
      if (probes[i].answer) continue;
      error_code ec;
      co_await socket.async_send_to(asio::buffer(requests[i]), probes[i].to, redirect(ec));
    }
    const auto round_end =
        std::min(deadline, std::chrono::steady_clock::now() + std::chrono::milliseconds(200));
    for (;;) {
      asio::steady_timer timer(ex, round_end);
      timer.async_wait([&socket](error_code e) {
        if (!e) socket.cancel();
      });
      udp::endpoint from;
      error_code ec;
      const std::size_t n =
          co_await socket.async_receive_from(asio::buffer(buf), from, redirect(ec));
      timer.cancel();
      if (ec) break;  // the round's time is up (or the socket failed: the deadline ends it)
      auto m = proto::decode_stun(proto::ByteView(buf.data(), n));
      // An error answer (420: the server cannot change its address) completes a probe too.
      const bool success = m && m->type == proto::kStunBindingSuccess && m->mapped;
      if (!success && !(m && m->type == proto::kStunBindingError)) continue;
      const auto it = by_id.find(m->transaction);
      if (it == by_id.end() || probes[it->second].answer) continue;
      probes[it->second].answer = std::move(*m);
      if (++answered == probes.size()) break;
    }
  }
}

}  // namespace

awaitable<proto::NatObservations> observe_nat(asio::ip::address server,
                                              std::vector<std::uint16_t> ports,
                                              std::chrono::milliseconds timeout) {
  proto::NatObservations o;
  auto ex = co_await asio::this_coro::executor;
  server = unmapped(server);
  udp::socket socket(ex);
  error_code ec;
  socket.open(server.is_v4() ? udp::v4() : udp::v6(), ec);
  if (!ec) socket.bind(udp::endpoint(server.is_v4() ? udp::v4() : udp::v6(), 0), ec);
  if (ec || ports.empty()) co_return o;
  o.local_port = socket.local_endpoint().port();
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  const udp::endpoint primary(server, ports[0]);

  // Phase 1, before this socket has sent anywhere else: the mapping towards the primary, and
  // which answers from elsewhere the NAT lets in.
  std::vector<Probe> first{{primary, 0, {}},
                           {primary, proto::kStunChangePort, {}},
                           {primary, proto::kStunChangeIp | proto::kStunChangePort, {}}};
  co_await run_probes(socket, first,
                      std::min(deadline, std::chrono::steady_clock::now() + timeout / 2));
  const auto succeeded = [](const Probe& p) {
    return p.answer && p.answer->type == proto::kStunBindingSuccess;
  };
  if (!succeeded(first[0])) co_return o;
  o.primary = first[0].answer->mapped;
  for (const auto& a : local_addresses()) {
    o.mapped_is_local =
        o.mapped_is_local || (address_of(*o.primary) == a && o.primary->port == o.local_port);
  }
  std::optional<udp::endpoint> other_address;
  if (first[0].answer->other_address) {
    const auto other = *first[0].answer->other_address;
    auto ip = address_of(other);
    if (ip.is_unspecified()) ip = server;
    o.server_has_other_address = ip != server;
    if (o.server_has_other_address) other_address = udp::endpoint(ip, ports[0]);
    if (ports.size() < 2) ports.push_back(other.port);
  }
  // No answer: the NAT filtered it. An error answer: the server cannot send from elsewhere, so
  // this says nothing about filtering.
  const auto got_through = [&](const Probe& p) -> std::optional<bool> {
    if (!p.answer) return false;
    if (succeeded(p)) return true;
    return std::nullopt;
  };
  o.answered_from_other_port = got_through(first[1]);
  if (o.server_has_other_address) o.answered_from_other_address = got_through(first[2]);

  // Phase 2: the mapping towards the other port, and the other address.
  std::vector<Probe> second;
  if (ports.size() > 1) second.push_back({udp::endpoint(server, ports[1]), 0, {}});
  if (other_address) second.push_back({*other_address, 0, {}});
  co_await run_probes(socket, second, deadline);
  std::size_t k = 0;
  if (ports.size() > 1 && succeeded(second[k++])) o.other_port = second[k - 1].answer->mapped;
  if (other_address && succeeded(second[k])) o.other_address = second[k].answer->mapped;
  co_return o;
}

}  // namespace ferry::net
