#include "server/rendezvous.hpp"

#include <sodium.h>

#include <algorithm>
#include <utility>

#include "proto/relay_hello.hpp"

namespace ferry::server {

namespace rv = proto::rv;

bool tries_a_code(const proto::ClientMessage& m) {
  if (std::holds_alternative<rv::Claim>(m)) return true;
  const auto* a = std::get_if<rv::Allocate>(&m);
  // A group's next (rv::Allocate::next) only reaches its own group, with its token.
  return a != nullptr && !a->nameplate.empty() && !a->next;
}

Rendezvous::Rendezvous(RendezvousLimits limits, GrantIssuer grants)
    : limits_(limits), grants_(std::move(grants)) {}

proto::Bytes Rendezvous::random_bytes(std::size_t n) {
  proto::Bytes b(n);
  randombytes_buf(b.data(), b.size());
  return b;
}

bool Rendezvous::full() const {
  return nameplates_.size() + awaited_.size() + groups_.size() >= limits_.max_nameplates;
}

bool Rendezvous::held(const std::string& nameplate) const {
  return nameplates_.count(nameplate) != 0 || awaited_.count(nameplate) != 0 ||
         groups_.count(nameplate) != 0;
}

std::string Rendezvous::free_nameplate() {
  // Short numbers while the server is quiet, longer as it fills; random so a nameplate says
  // nothing about how many transfers came before.
  const std::uint32_t range = static_cast<std::uint32_t>(
      std::max<std::size_t>(100, (nameplates_.size() + groups_.size()) * 10));
  for (;;) {
    std::string n = std::to_string(1 + randombytes_uniform(range));
    if (!held(n)) return n;
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

namespace {
bool same_token(const proto::Bytes& held, const proto::Bytes& given) {
  return !given.empty() && held.size() == given.size() &&
         sodium_memcmp(held.data(), given.data(), given.size()) == 0;
}
}  // namespace

void Rendezvous::allocate(Client& from, State& st, const rv::Allocate& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  if (m.next) return next(from, st, m);
  const bool group = m.receivers != 1;
  if (group && m.resume.empty()) {
    return from.kick("protocol", "a send to several receivers needs a resume token");
  }
  std::string n = m.nameplate;
  if (const auto g = groups_.find(n); !n.empty() && g != groups_.end()) {
    // A group's sender on a new connection (its waiting one dropped) takes it back.
    if (!same_token(g->second.resume, m.resume)) {
      return from.kick("code_taken", "that code's number is in use; pick another");
    }
    // Its sender vouches for the last pairing as a next does (it takes the code back only after
    // a proven one: a receiver that broke off and comes back, or a dropped waiting connection).
    if (g->second.busy != nullptr) {
      clients_[g->second.busy].group.clear();
      g->second.busy = nullptr;
    }
    return join_group(from, st, n, g->second);
  }
  if (full()) return from.kick("limit", "the server is full; try again later");
  const std::uint32_t pairings = m.receivers == 0
                                     ? limits_.max_group_receivers
                                     : std::min(m.receivers, limits_.max_group_receivers);
  if (!n.empty()) {
    if (const auto w = awaited_.find(n); w != awaited_.end()) {
      // A receiver is already waiting with this code: the sender learns its nameplate and is
      // paired at once.
      Client* receiver = w->second;
      awaited_.erase(w);
      clients_[receiver].awaited.clear();
      if (group) {
        Group& g = groups_[n];
        g = Group{m.resume, nullptr, nullptr, pairings, {}};
        join_group(from, st, n, g);
        return pair_group(n, g, *receiver);
      }
      st.joined = true;
      from.deliver(rv::Allocated{n});
      return pair(from, *receiver);
    }
  }
  if (n.empty()) {
    n = free_nameplate();
  } else if (const auto h = nameplates_.find(n); h != nameplates_.end()) {
    // Its sender on a new connection (the old one dropped without our noticing yet) takes it
    // back with the resume token it chose; anyone else finds it taken.
    State& owner = clients_[h->second];
    if (group || !same_token(owner.resume, m.resume)) {
      return from.kick("code_taken", "that code's number is in use; pick another");
    }
    owner.nameplate.clear();
    h->second->kick("replaced", "the sender took this code over on a new connection");
  }
  if (group) {
    Group& g = groups_[n];
    g = Group{m.resume, nullptr, nullptr, pairings, {}};
    return join_group(from, st, n, g);
  }
  st.joined = true;
  st.resume = m.resume;
  st.nameplate = n;
  nameplates_[n] = &from;
  from.deliver(rv::Allocated{n});
}

void Rendezvous::next(Client& from, State& st, const rv::Allocate& m) {
  const auto it = groups_.find(m.nameplate);
  if (it == groups_.end() || !same_token(it->second.resume, m.resume)) {
    return from.kick("code_unknown", "no send to several receivers is open under this code");
  }
  Group& g = it->second;
  // The sender vouches for the last pairing (its code proved right): the next may begin.
  if (g.busy != nullptr) {
    clients_[g.busy].group.clear();
    g.busy = nullptr;
  }
  join_group(from, st, m.nameplate, g);
}

void Rendezvous::join_group(Client& from, State& st, const std::string& nameplate, Group& g) {
  if (g.waiting != nullptr && g.waiting != &from) {
    Client* old = std::exchange(g.waiting, nullptr);
    clients_[old].group.clear();
    old->kick("replaced", "the sender took this code over on a new connection");
  }
  st.joined = true;
  st.group = nameplate;
  g.waiting = &from;
  from.deliver(rv::Allocated{nameplate});
  if (g.busy == nullptr && !g.queue.empty()) {
    Client* receiver = g.queue.front();
    g.queue.pop_front();
    clients_[receiver].queued.clear();
    pair_group(nameplate, g, *receiver);
  }
}

void Rendezvous::pair_group(const std::string& nameplate, Group& g, Client& receiver) {
  Client* sender = std::exchange(g.waiting, nullptr);
  g.busy = sender;
  --g.left;
  pair(*sender, receiver);
  if (g.left == 0)
    end_group(nameplate, "this code was received by as many people as its sender allowed");
}

void Rendezvous::end_group(const std::string& nameplate, std::string_view reason) {
  const auto it = groups_.find(nameplate);
  if (it == groups_.end()) return;
  Group g = std::move(it->second);
  groups_.erase(it);
  for (Client* c : {g.waiting, g.busy}) {
    if (c != nullptr) clients_[c].group.clear();
  }
  if (g.waiting != nullptr) g.waiting->kick("code_used", reason);
  for (Client* q : g.queue) {
    clients_[q].queued.clear();
    q->kick("code_used", reason);
  }
}

void Rendezvous::claim(Client& from, State& st, const rv::Claim& m) {
  if (st.joined) return from.kick("out_of_order", "this connection already has a code");
  st.joined = true;
  if (const auto g = groups_.find(m.nameplate); g != groups_.end()) {
    if (g->second.waiting != nullptr && g->second.busy == nullptr) {
      return pair_group(m.nameplate, g->second, from);
    }
    // The sender is busy proving the last receiver's code (or reconnecting): wait in line.
    if (g->second.queue.size() >= limits_.max_group_queue) {
      return from.kick("limit",
                       "too many receivers are waiting for this code's sender; try again in a "
                       "moment");
    }
    g->second.queue.push_back(&from);
    st.queued = m.nameplate;
    return from.deliver(rv::Waiting{true});
  }
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
    if (full()) return from.kick("limit", "the server is full; try again later");
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
  if (!st.queued.empty()) {
    if (const auto g = groups_.find(st.queued); g != groups_.end()) {
      std::erase(g->second.queue, &from);
    }
  }
  if (!st.group.empty()) {
    if (const auto g = groups_.find(st.group); g != groups_.end()) {
      if (g->second.busy == &from) {
        // The pairing ended before its sender asked for the next receiver: its code may have been
        // a wrong guess, so nobody else gets one.
        g->second.busy = nullptr;
        end_group(st.group, "the sender stopped taking receivers for this code");
      } else if (g->second.waiting == &from) {
        // Nobody holds the code now (the sender reconnects with its token and makes it anew;
        // the transfers under way go on): like a single code, the queue finds it gone.
        g->second.waiting = nullptr;
        if (g->second.busy == nullptr) {
          end_group(st.group, "the sender's connection to the server dropped; try again");
        }
      }
    }
  }
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
  s.waiting = nameplates_.size() + groups_.size();
  s.receivers_waiting = awaited_.size();
  for (const auto& [c, st] : clients_) s.paired += st.partner != nullptr ? 1 : 0;
  return s;
}

}  // namespace ferry::server
