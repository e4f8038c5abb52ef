#include "server/rendezvous.hpp"

#include <sodium.h>

#include <algorithm>

#include "proto/relay_hello.hpp"

namespace ferry::server {

namespace rv = proto::rv;

bool tries_a_code(const proto::ClientMessage& m) {
  if (std::holds_alternative<rv::Claim>(m)) return true;
  const auto* a = std::get_if<rv::Allocate>(&m);
  return a != nullptr && !a->nameplate.empty();
}

Rendezvous::Rendezvous(RendezvousLimits limits, GrantIssuer grants)
    : limits_(limits), grants_(std::move(grants)) {}

proto::Bytes Rendezvous::random_bytes(std::size_t n) {
  proto::Bytes b(n);
  randombytes_buf(b.data(), b.size());
  return b;
}

std::string Rendezvous::free_nameplate() {
  // Short numbers while the server is quiet, longer as it fills; random so a nameplate says
  // nothing about how many transfers came before.
  const std::uint32_t range =
      static_cast<std::uint32_t>(std::max<std::size_t>(100, nameplates_.size() * 10));
  for (;;) {
    std::string n = std::to_string(1 + randombytes_uniform(range));
    if (!nameplates_.count(n) && !awaited_.count(n)) return n;
  }
}

void Rendezvous::on_message(Client& from, const proto::ClientMessage& m) {
  State& st = clients_[&from];
  if (const auto* a = std::get_if<rv::Allocate>(&m)) return allocate(from, st, *a);
  if (const auto* c = std::get_if<rv::Claim>(&m)) return claim(from, st, *c);
  const auto& msg = std::get<rv::Message>(m);
  if (st.partner == nullptr) {
    return from.kick("out_of_order", "a message was sent before both peers joined");
  }
  if (++*st.messages > limits_.max_messages_per_pair) {
    return from.kick("limit", "too many messages for one transfer");
  }
  st.partner->deliver(msg);
}

void Rendezvous::allocate(Client& from, State& st, const rv::Allocate& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  if (nameplates_.size() + awaited_.size() >= limits_.max_nameplates) {
    return from.kick("limit", "the server is full; try again later");
  }
  std::string n = m.nameplate;
  if (!n.empty()) {
    if (const auto w = awaited_.find(n); w != awaited_.end()) {
      // A receiver is already waiting with this code: the sender learns its nameplate and is
      // paired at once.
      Client* receiver = w->second;
      awaited_.erase(w);
      clients_[receiver].awaited.clear();
      st.joined = true;
      from.deliver(rv::Allocated{n});
      return pair(from, *receiver);
    }
  }
  if (n.empty()) {
    n = free_nameplate();
  } else if (const auto held = nameplates_.find(n); held != nameplates_.end()) {
    // Its sender on a new connection (the old one dropped without our noticing yet) takes it
    // back with the resume token it chose; anyone else finds it taken.
    State& owner = clients_[held->second];
    if (m.resume.empty() || owner.resume.size() != m.resume.size() ||
        sodium_memcmp(owner.resume.data(), m.resume.data(), m.resume.size()) != 0) {
      return from.kick("code_taken", "that code's number is in use; pick another");
    }
    owner.nameplate.clear();
    held->second->kick("replaced", "the sender took this code over on a new connection");
  }
  st.joined = true;
  st.resume = m.resume;
  st.nameplate = n;
  nameplates_[n] = &from;
  from.deliver(rv::Allocated{n});
}

void Rendezvous::claim(Client& from, State& st, const rv::Claim& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  st.joined = true;
  const auto it = nameplates_.find(m.nameplate);
  if (it == nameplates_.end()) {
    if (!m.wait) {
      return from.kick(
          "code_unknown",
          "no transfer is waiting under this code (mistyped, expired, or already used)");
    }
    if (awaited_.count(m.nameplate)) {
      return from.kick("code_taken", "another receiver is already waiting with this code");
    }
    if (nameplates_.size() + awaited_.size() >= limits_.max_nameplates) {
      return from.kick("limit", "the server is full; try again later");
    }
    st.awaited = m.nameplate;
    awaited_[m.nameplate] = &from;
    return from.deliver(rv::Waiting{});
  }
  Client* sender = it->second;
  nameplates_.erase(it);  // one guess: gone whether the code's words are right or not
  clients_[sender].nameplate.clear();
  pair(*sender, from);
}

void Rendezvous::pair(Client& sender, Client& receiver) {
  State& sst = clients_[&sender];
  State& rst = clients_[&receiver];
  sst.partner = &receiver;
  rst.partner = &sender;
  sst.messages = rst.messages = std::make_shared<std::size_t>(0);
  rv::Paired paired{random_bytes(16), {}, {}, {}, {}};
  paired.relay_grant = grants_(paired.session_id);
  paired.observed = sender.observed_address();
  paired.peer_observed = receiver.observed_address();
  sender.deliver(paired);
  std::swap(paired.observed, paired.peer_observed);
  receiver.deliver(paired);
}

void Rendezvous::on_disconnect(Client& from) {
  const auto it = clients_.find(&from);
  if (it == clients_.end()) return;
  const State st = std::move(it->second);
  clients_.erase(it);
  if (!st.nameplate.empty()) nameplates_.erase(st.nameplate);
  if (!st.awaited.empty()) awaited_.erase(st.awaited);
  if (st.partner != nullptr) {
    auto pit = clients_.find(st.partner);
    if (pit != clients_.end()) {
      pit->second.partner = nullptr;
      pit->second.messages.reset();
      st.partner->deliver(rv::PeerLeft{});
    }
  }
}

RendezvousStats Rendezvous::stats() const {
  RendezvousStats s;
  s.waiting = nameplates_.size();
  s.receivers_waiting = awaited_.size();
  for (const auto& [c, st] : clients_) s.paired += st.partner != nullptr ? 1 : 0;
  return s;
}

}  // namespace ferry::server
