// `ferry serve --redis URL`: several nodes share one rendezvous through Redis, and their relays
// form a pool.
//
// Each node keeps its own connections' state (who waits under which nameplate, who is paired with
// whom); Redis holds what nodes must agree on, changed only by Lua scripts (atomic):
//   ferry:np:<nameplate>   a sender waiting: "<client id> <observed address>", expires with the
//   code ferry:aw:<nameplate>   a receiver waiting for its sender (Claim::wait), the same
//   ferry:claims:<group>   claims from one address group this minute (the limit, cluster-wide)
//   ferry:msgs:<session>   messages a pair exchanged (the per-pair limit)
//   ferry:grp:<nameplate>, ferry:grpq:<nameplate>   a group send and the receivers in its line
//                          (`send --receivers`, and every CLI send, which may come back); a
//                          node rewrites its waiting group senders' after a Redis restart
//   ferry:relays           the relay pool: URL -> last heartbeat (ms, Redis's clock)
//   ferry:relay_load       URL -> relayed sessions now
// Nodes talk through one pub/sub channel each (ferry:node:<node id>): "paired" tells a client on
// that node who its partner is, "msg" carries a message, "left" says the partner went away. A
// client id is "<node id>.<number>", so the id says where to publish. When Redis comes back after
// a restart (its data gone), each node writes its waiting clients' keys again.
#pragma once

#include <chrono>
#include <functional>
#include <memory>
#include <string>
#include <unordered_map>

#include "net/redis.hpp"
#include "server/rendezvous.hpp"

namespace ferry::server {

struct ClusterOptions {
  proto::RedisUrl redis;
  RendezvousLimits limits;
  std::chrono::seconds nameplate_ttl{3600};
  std::size_t claims_per_minute = 30;
  // How busy this node's relay is (sessions waiting or under way).
  std::function<std::size_t()> relay_load;
  std::chrono::milliseconds heartbeat{1000};  // a relay silent for 3 heartbeats leaves the pool
};

class ClusterRendezvous : public RendezvousService {
 public:
  using GrantIssuer = Rendezvous::GrantIssuer;

  ClusterRendezvous(const net::asio::any_io_executor& ex, ClusterOptions options,
                    GrantIssuer grants);
  ~ClusterRendezvous() override;

  // relay_url: this node's relay as peers reach it, announced to the pool (empty: none here).
  // relay_udp: its relay over UDP's port on the same host (0: none), announced beside it.
  void start(std::string relay_url, std::uint16_t relay_udp = 0);
  // Leaves the relay pool and closes the Redis connections.
  void stop();
  // Ready to serve: both Redis connections are up. Otherwise why not, for /healthz and errors.
  bool ready() const;
  std::string not_ready_reason() const;
  const std::string& node_id() const { return node_; }
  // The relays in the pool, as last read (each heartbeat).
  const std::vector<std::string>& relay_urls() const { return relay_urls_; }

  void on_message(Client& from, const proto::ClientMessage& m) override;
  void on_disconnect(Client& from) override;
  RendezvousStats stats() const override;

  // A waiting client as kept under a nameplate in Redis: "<id> <observed> <page relay>", "-" for
  // an empty field.
  struct Waiter {
    std::string id;
    std::string observed;
    std::string page_relay;  // its node's relay when it is a page (which relays only there)
  };

 private:
  struct State {
    std::string id;
    std::string nameplate;       // waiting for a receiver, key ferry:np:<nameplate> is ours
    std::string awaited;         // waiting for a sender, key ferry:aw:<nameplate> is ours
    std::string partner;         // the partner's client id, once paired
    std::string session;         // hex session id, once paired (the message counter's key)
    std::string token;           // hash of the sender's resume token (rv::Allocate), hex
    std::string group;           // a group send's sender connection, its nameplate (ferry:grp:<n>)
    std::string queued;          // a receiver in a group's line, its nameplate
    std::uint32_t pairings = 0;  // the group's pairings as asked (rewritten after a Redis restart)
    bool joined = false;
  };

  void allocate(Client& from, State& st, const proto::rv::Allocate& m);
  void claim(Client& from, State& st, const proto::rv::Claim& m);
  // A group send's allocate, retake or next (rendezvous.hpp), shared through Redis.
  void group_allocate(Client& from, State& st, const proto::rv::Allocate& m);
  // Tells the clients named from r.elements[from_index] on that their group ended (code_used).
  void tell_used(const net::RedisReply& r, std::size_t from_index);
  void message(Client& from, State& st, const proto::rv::Message& m);
  // `here` (a local client, by id) is paired with `there` (a value from Redis), at the relay the
  // pair must use (a page's node's, else the pool's least loaded).
  void pair(const std::string& here, const std::string& there);
  void paired(const std::string& here, const Waiter& there, const std::string& relay,
              std::uint16_t relay_udp = 0);
  void publish(const std::string& to, const std::string& kind, const std::string& from,
               const std::string& body, std::function<void(bool delivered)> done = {});
  void on_envelope(std::string_view payload);
  void on_redis_up();
  void heartbeat();
  Client* find(const std::string& id) const;
  // Runs a script; the callback gets the reply (or the error).
  void script(const std::string& lua, std::vector<std::string> args, net::RedisClient::Callback cb);
  void redis_failed(const std::string& id, const proto::Error& e);
  std::string value_for(Client& c, const State& st) const;

  net::asio::any_io_executor ex_;
  ClusterOptions options_;
  GrantIssuer grants_;
  std::string node_;
  std::uint64_t next_id_ = 0;
  std::shared_ptr<net::RedisClient> commands_;
  std::shared_ptr<net::RedisClient> events_;
  std::unordered_map<Client*, State> clients_;
  std::unordered_map<std::string, Client*> by_id_;
  net::asio::steady_timer heartbeat_;
  std::shared_ptr<bool> alive_;
  std::string relay_url_;
  std::uint16_t relay_udp_ = 0;
  std::vector<std::string> relay_urls_;
  bool stopped_ = false;
};

}  // namespace ferry::server
