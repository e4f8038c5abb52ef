// The relay of last resort: pairs exactly two TCP connections that present the same grant (one per
// side) and forwards bytes it cannot read between them. Grants come only from the rendezvous, are
// single-use and expire; the relay never connects anywhere itself.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>

#include "net/asio.hpp"
#include "proto/relay_hello.hpp"

namespace ferry::server {

struct RelayLimits {
  std::chrono::seconds grant_lifetime{900};
  std::chrono::seconds wait_for_peer{60};
  std::chrono::seconds hello_timeout{10};
  std::size_t buffer_bytes = std::size_t{256} * 1024;
};

class Relay {
 public:
  explicit Relay(RelayLimits limits) : limits_(limits) {}

  void add_grant(const proto::Bytes& grant);
  // Takes over a connection whose first bytes (the magic) were already read.
  net::awaitable<void> handle(net::beast::tcp_stream stream);

 private:
  using Grant = std::array<std::uint8_t, proto::kRelayGrantBytes>;
  struct Waiter;
  struct Entry {
    std::chrono::steady_clock::time_point expiry;
    std::shared_ptr<Waiter> sides[2];
  };

  void expire_grants();
  net::awaitable<void> forward(std::shared_ptr<Waiter> a, std::shared_ptr<Waiter> b);
  net::awaitable<void> pump(std::shared_ptr<Waiter> from, std::shared_ptr<Waiter> to,
                            std::shared_ptr<int> remaining);

  RelayLimits limits_;
  std::map<Grant, Entry> grants_;
};

}  // namespace ferry::server
