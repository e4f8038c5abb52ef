// The rendezvous mailbox: nameplates waiting for a receiver, pairs of clients relaying opaque
// messages. Pure state, no sockets: connections call in with what they received and get delivery
// and close requests through the Client interface. One guess per code: a nameplate is gone the
// moment a receiver claims it, right or wrong. A receiver may also claim first and wait (a
// pre-agreed code): the sender who then allocates that nameplate is paired with it at once, and
// the nameplate is spent just the same.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include "proto/rendezvous_message.hpp"

namespace ferry::server {

class Client {
 public:
  virtual ~Client() = default;
  virtual void deliver(const proto::ServerMessage& m) = 0;
  // Sends an error, then closes the connection with the reason.
  virtual void kick(std::string_view code, std::string_view reason) = 0;
  // The client's address as this server sees it (an IP literal), told to it when paired.
  virtual std::string observed_address() const { return {}; }
  // Its address group (client_address.hpp), which a cluster's claim limit counts by.
  virtual std::string rate_group() const { return observed_address(); }
  // A browser's page (its WebSocket came with an Origin): it relays only through the server it
  // was loaded from, so a cluster sends its pair to that node's relay.
  virtual bool page() const { return false; }
};

struct RendezvousLimits {
  std::size_t max_nameplates = 100'000;
  std::size_t max_messages_per_pair = 64;
};

struct RendezvousStats {
  std::size_t waiting = 0;            // nameplates allocated, no receiver yet
  std::size_t receivers_waiting = 0;  // claims waiting for a sender to allocate their nameplate
  std::size_t paired = 0;             // clients in a pair
};

// Whether a message tries a code: a claim, or an allocate of a number the sender chose (it pairs
// at once with a receiver waiting under that number). Each counts against the address's claim
// limit (--claims-per-minute), on one node and across a cluster.
bool tries_a_code(const proto::ClientMessage& m);
inline constexpr std::string_view kTooManyCodes =
    "too many codes were tried from your address; wait a minute and try again";

// What a rendezvous connection talks to: this process's own state (Rendezvous, the default) or a
// cluster's, shared through Redis (cluster.hpp). Both answer through the Client interface, the
// cluster's a moment later (after Redis answered).
class RendezvousService {
 public:
  virtual ~RendezvousService() = default;
  virtual void on_message(Client& from, const proto::ClientMessage& m) = 0;
  virtual void on_disconnect(Client& from) = 0;
  virtual RendezvousStats stats() const = 0;
};

class Rendezvous : public RendezvousService {
 public:
  // Signs the relay grant for a new session (given its id).
  using GrantIssuer = std::function<proto::Bytes(const proto::Bytes& session_id)>;

  Rendezvous(RendezvousLimits limits, GrantIssuer grants);

  void on_message(Client& from, const proto::ClientMessage& m) override;
  void on_disconnect(Client& from) override;
  RendezvousStats stats() const override;

 private:
  struct State {
    std::string nameplate;  // set while waiting for a receiver
    std::string awaited;    // set while a receiver waits for a sender (Claim::wait)
    Client* partner = nullptr;
    bool joined = false;                    // allocated or claimed once; a client gets one go
    std::shared_ptr<std::size_t> messages;  // shared by both members of a pair
    proto::Bytes resume;                    // the sender's resume token (rv::Allocate)
  };

  void allocate(Client& from, State& st, const proto::rv::Allocate& m);
  void claim(Client& from, State& st, const proto::rv::Claim& m);
  // The one guess: the nameplate is spent, sender and receiver become a pair.
  void pair(Client& sender, Client& receiver);
  std::string free_nameplate();
  proto::Bytes random_bytes(std::size_t n);

  RendezvousLimits limits_;
  GrantIssuer grants_;
  std::unordered_map<Client*, State> clients_;
  std::map<std::string, Client*> nameplates_;
  std::map<std::string, Client*> awaited_;  // nameplate -> the receiver waiting for its sender
};

}  // namespace ferry::server
