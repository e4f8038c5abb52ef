// The rendezvous mailbox: nameplates waiting for a receiver, pairs of clients relaying opaque
// messages. Pure state, no sockets: connections call in with what they received and get delivery
// and close requests through the Client interface. One guess per code: a nameplate is gone the
// moment a receiver claims it, right or wrong. A receiver may also claim first and wait (a
// pre-agreed code): the sender who then allocates that nameplate is paired with it at once, and
// the nameplate is spent just the same.
// A group send (`ferry send --receivers N`) keeps its nameplate for N pairings, one at a time: a
// receiver's claim pairs with the sender's waiting connection, and the next one waits (queued)
// until the sender, on a new connection, asks for the next receiver (rv::Allocate::next): it does
// so only once the last receiver's code proved right. If that pairing's sender connection closes
// first (a wrong code, or the sender stopped), the group ends for every queued receiver. So the
// short code is still one guess: a wrong one ends it for everyone.
#pragma once

#include <cstdint>
#include <deque>
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
  // A group send (rv::Allocate::receivers): the most pairings one code makes (0, "any number",
  // means this many), and the most receivers queued while its sender is busy with the last one.
  std::uint32_t max_group_receivers = 1000;
  std::size_t max_group_queue = 16;
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
    std::string group;   // a group send's sender connection (waiting or busy), its nameplate
    std::string queued;  // a receiver queued for a group send, its nameplate
  };
  struct Group {
    proto::Bytes resume;
    Client* waiting = nullptr;  // the sender's connection waiting for its next receiver
    Client* busy = nullptr;     // the sender's connection in a pairing not yet confirmed (next)
    std::uint32_t left = 0;     // pairings still allowed
    std::deque<Client*> queue;  // receivers that claimed while the sender was busy
  };

  void allocate(Client& from, State& st, const proto::rv::Allocate& m);
  void claim(Client& from, State& st, const proto::rv::Claim& m);
  // Group sends: a sender connection becomes the group's waiting one (after a first allocate, a
  // retake or a next), pairs it with a queued receiver if the group is free, and ends a group.
  void join_group(Client& from, State& st, const std::string& nameplate, Group& g);
  void next(Client& from, State& st, const proto::rv::Allocate& m);
  void pair_group(const std::string& nameplate, Group& g, Client& receiver);
  void end_group(const std::string& nameplate, std::string_view reason);
  bool full() const;
  bool held(const std::string& nameplate) const;
  // The one guess: the nameplate is spent, sender and receiver become a pair.
  void pair(Client& sender, Client& receiver);
  std::string free_nameplate();
  proto::Bytes random_bytes(std::size_t n);

  RendezvousLimits limits_;
  GrantIssuer grants_;
  std::unordered_map<Client*, State> clients_;
  std::map<std::string, Client*> nameplates_;
  std::map<std::string, Client*> awaited_;  // nameplate -> the receiver waiting for its sender
  std::map<std::string, Group> groups_;     // nameplate -> a group send
};

}  // namespace ferry::server
