// Every connection the server holds, by client address group and by stage, and the decisions the
// limits make: admit a new connection, refuse it (its group or the server is full), or make room
// by evicting a connection that has not yet proved it is a client (still in its handshake, its
// HTTP request, a WebSocket with no code, a relay hello). The oldest such connection goes: an
// honest client proves itself within a round trip or two, while a flood's connections sit idle, so
// under attack the oldest unproven connections are the attacker's (the server also caps how fast
// one address may connect, which keeps the flood's churn slower than an honest round trip).
// Pure state, no sockets or clocks: the server carries the decisions out.
#pragma once

#include <array>
#include <cstdint>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>

namespace ferry::server {

enum class ConnectionStage {
  handshake,          // first bytes, TLS
  http,               // reading an HTTP request
  websocket_unbound,  // a rendezvous WebSocket that has neither allocated nor claimed
  relay_hello,        // a relay connection whose hello is not yet checked
  rendezvous,         // a rendezvous client holding or claiming a code
  relay,              // a relay connection with a good grant (waiting or forwarding)
  download,           // a browser's streamed relay download
};
inline constexpr std::size_t kConnectionStages = 7;

std::string_view stage_name(ConnectionStage s);
// Whether a connection in this stage may be evicted to make room: it has proved nothing yet.
bool evictable(ConnectionStage s);

enum class Refusal { none, address_rate, address_full, server_full };
std::string_view refusal_name(Refusal r);

struct ConnectionLimits {
  std::size_t total = 20'000;
  std::size_t per_group = 64;
};

class ConnectionTable {
 public:
  using Id = std::uint64_t;
  struct Admission {
    std::optional<Id> id;  // admitted under this id (absent: refused)
    Refusal refused = Refusal::none;
    std::optional<Id> evicted;  // the connection to close to make room (already removed here)
  };

  explicit ConnectionTable(ConnectionLimits limits) : limits_(limits) {}

  Admission admit(const std::string& group);
  void set_stage(Id id, ConnectionStage stage);
  // Idempotent: an evicted connection is removed at eviction and again when it unwinds.
  void remove(Id id);

  std::size_t size() const { return entries_.size(); }
  std::size_t in_group(const std::string& group) const;
  std::array<std::size_t, kConnectionStages> by_stage() const { return by_stage_; }
  const ConnectionLimits& limits() const { return limits_; }

 private:
  struct Entry {
    std::string group;
    ConnectionStage stage = ConnectionStage::handshake;
  };

  ConnectionLimits limits_;
  Id next_id_ = 1;
  std::unordered_map<Id, Entry> entries_;
  std::unordered_map<std::string, std::size_t> groups_;  // connections per group
  std::set<Id> evictable_;  // ids grow with age: the first is the oldest
  std::array<std::size_t, kConnectionStages> by_stage_{};
};

}  // namespace ferry::server
