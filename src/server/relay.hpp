// The relay of last resort: pairs exactly two connections that present the same signed grant (one
// per side) and forwards bytes it cannot read between them, whatever carries each (TCP, TLS,
// WebSocket). Grants are signed by the rendezvous tier, bound to one session, expire, and pair
// once; the relay never connects anywhere itself. Limits keep it from becoming a free proxy: bytes,
// rate and lifetime per session, connections and connection rate per address, total bandwidth.
#pragma once

#include <array>
#include <chrono>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>

#include "proto/relay_grant.hpp"
#include "proto/wormhole_message.hpp"
#include "server/client_address.hpp"
#include "server/rate_limiter.hpp"
#include "server/relay_link.hpp"

namespace ferry::server {

struct RelayLimits {
  std::chrono::seconds grant_lifetime{900};  // how long peers may take to reach the relay
  std::chrono::seconds wait_for_peer{60};
  std::chrono::seconds hello_timeout{10};
  std::size_t buffer_bytes = std::size_t{256} * 1024;
  std::uint64_t max_bytes = std::uint64_t{64} << 30;  // per session, both directions; 0: none
  std::uint64_t rate = 0;                             // bytes/s per session; 0: none
  std::chrono::seconds max_duration{6 * 3600};        // per session; 0: none
  std::size_t per_address = 32;                       // connections at once from one address group
  std::size_t connects_per_minute = 120;              // per address group
  std::uint64_t bandwidth = 0;                        // bytes/s for all sessions; 0: none
};

struct RelayStats {
  std::size_t waiting = 0;  // connections waiting for their peer
  std::size_t active = 0;   // paired sessions forwarding now
  std::uint64_t sessions = 0;
  std::uint64_t bytes = 0;
  std::map<std::string, std::uint64_t> refused;  // by reason
  std::map<std::string, std::uint64_t> ended;    // sessions the relay ended, by limit
};

class Relay {
 public:
  Relay(RelayLimits limits, proto::RelayKey key);

  // Signs a grant for a new session, valid for the grant lifetime from now.
  proto::Bytes issue_grant(const proto::Bytes& session_id);
  // Takes over a connection whose hello was read; its limits count by the client's group.
  net::awaitable<void> handle(std::unique_ptr<RelayLink> link, ClientAddress client,
                              proto::ByteView hello);
  // A magic-wormhole transit relay connection whose "please relay" line was read: paired with
  // the other side that presents the same token, under the same limits.
  net::awaitable<void> handle_transit(std::unique_ptr<RelayLink> link, ClientAddress client,
                                      proto::TransitRelayRequest request);
  RelayStats stats() const;
  const RelayLimits& limits() const { return limits_; }
  const proto::RelayKey& key() const { return key_; }

 private:
  struct Waiter;
  struct Session;
  struct Entry {
    std::uint64_t expires = 0;  // the grant's
    bool used = false;          // a pair formed: nobody joins again
    std::shared_ptr<Waiter> sides[2];
    std::string transit_sides[2];  // a wormhole pair's sides, in the order they came
  };
  struct Refusal {
    proto::RelayStatus status;
    std::string reason;
    std::string text;
  };

  // The connection-rate and per-address limits every relay connection meets first.
  std::optional<Refusal> admission(const ClientAddress& client);
  // Joins side `me` of the session: forwards at once if its peer waits, else waits for it.
  net::awaitable<void> pair_or_wait(std::shared_ptr<Waiter> self, proto::RelaySessionId id, int me);

  // Says status (then text, or the status's own sentence) and closes; counts it under reason.
  net::awaitable<void> refuse(RelayLink& link, const ClientAddress& client,
                              proto::RelayStatus status, std::string reason, std::string text = {});
  void sweep(std::uint64_t now);
  net::awaitable<void> forward(std::shared_ptr<Waiter> a, std::shared_ptr<Waiter> b);
  // Ends a waiter's wait when its client goes away (or sends before it is paired, which no
  // client does), so an abandoned relay attempt does not hold its address's slot.
  net::awaitable<void> watch(std::shared_ptr<Waiter> w);
  net::awaitable<void> pump(std::shared_ptr<Session> session, int from);
  // Ends a session at a limit: each side is told why (by the pump writing to it, if one is).
  void end_session(const std::shared_ptr<Session>& s, const std::string& reason, std::string text);
  net::awaitable<void> send_end(std::shared_ptr<Session> s, int side);
  // Waits until the session and the relay as a whole are within their rates.
  net::awaitable<void> pace(Session& session, std::size_t bytes);

  RelayLimits limits_;
  proto::RelayKey key_;
  std::map<proto::RelaySessionId, Entry> sessions_;
  using AddressCounts = std::unordered_map<std::string, std::size_t>;
  std::shared_ptr<AddressCounts> per_address_ = std::make_shared<AddressCounts>();
  AddressRateLimiter connects_;
  std::chrono::steady_clock::time_point bandwidth_free_{};
  RelayStats stats_;
};

}  // namespace ferry::server
