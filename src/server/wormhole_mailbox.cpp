#include "server/wormhole_mailbox.hpp"

#include <sodium.h>

#include "proto/wormhole_message.hpp"

namespace ferry::server {

namespace {

// Mailbox ids are random and long (a client cannot guess another pair's); nameplates are short
// numbers while the server is quiet, longer as it fills.
std::string random_mailbox_id() {
  static constexpr char kAlphabet[] = "abcdefghijklmnopqrstuvwxyz234567";
  std::string id(13, 'a');
  for (auto& ch : id) ch = kAlphabet[randombytes_uniform(32)];
  return id;
}

}  // namespace

void WormholeMailbox::on_connect(MailboxPeer& peer) {
  clients_[&peer];
  peer.deliver(proto::mailbox_welcome());
}

bool WormholeMailbox::on_frame(MailboxPeer& peer, std::string_view text, double now) {
  Client& c = clients_[&peer];
  const auto error = [&](std::string_view why) {
    peer.deliver(proto::mailbox_error(why, text));
    return ++c.errors < limits_.max_errors;
  };
  auto f = proto::parse_mailbox_client_frame(text);
  if (!f) return error(f.error().detail);
  peer.deliver(proto::mailbox_ack(f->id));
  using proto::MailboxRequest;
  if (f->type == MailboxRequest::ping) {
    peer.deliver(proto::mailbox_pong(f->ping));
    return true;
  }
  if (f->type == MailboxRequest::bind) {
    if (c.bound) return error("already bound");
    c.bound = true;
    c.app = f->appid;
    c.side = f->side;
    return true;
  }
  if (!c.bound) return error("must bind first");
  std::string why;
  switch (f->type) {
    case MailboxRequest::list:
      // Which codes are live is nobody's business: the list is always empty (as the reference
      // server's --disallow-list).
      peer.deliver(proto::mailbox_simple("nameplates"));
      break;
    case MailboxRequest::allocate: {
      if (c.allocated) return error("you already allocated one, don't be greedy");
      if (!c.nameplate.empty()) return error("allocate must come before claim");
      if (nameplates_.size() >= limits_.max_nameplates) return error("too many nameplates");
      std::string name;
      const std::uint32_t range = 10 + 2 * static_cast<std::uint32_t>(nameplates_.size());
      do {
        name = std::to_string(1 + randombytes_uniform(range));
      } while (nameplates_.contains({c.app, name}));
      c.allocated = true;
      why = claim(peer, c, name);
      if (why.empty()) peer.deliver(proto::mailbox_allocated(name));
      c.claimed = false;  // the client claims it next, as the reference server expects
      break;
    }
    case MailboxRequest::claim:
      if (c.claimed) return error("only one claim per connection");
      // A connection holds one nameplate and one mailbox, so it can leave nothing behind.
      if (!c.nameplate.empty() && f->nameplate != c.nameplate)
        return error("claim must name the nameplate this connection allocated");
      // Claiming a nameplate this connection did not allocate may meet the other side of a code:
      // a guess, counted like a claim on ferry's own rendezvous.
      if (c.nameplate.empty() && !peer.may_try_a_code()) {
        peer.deliver(proto::mailbox_error(
            "too many codes were tried from your address; wait a minute and try again", text));
        return false;
      }
      why = claim(peer, c, f->nameplate);
      if (why.empty()) {
        c.claimed = true;
        peer.deliver(proto::mailbox_claimed(nameplates_.at({c.app, f->nameplate}).mailbox));
      }
      break;
    case MailboxRequest::release: {
      if (c.released) return error("only one release per connection");
      if (f->has_nameplate && !c.nameplate.empty() && f->nameplate != c.nameplate)
        return error("release and claim must use same nameplate");
      if (!f->has_nameplate && c.nameplate.empty())
        return error("release without nameplate must follow claim");
      c.released = true;
      why = release(peer, c, f->has_nameplate ? f->nameplate : c.nameplate);
      if (why.empty()) peer.deliver(proto::mailbox_simple("released"));
      break;
    }
    case MailboxRequest::open:
      if (c.listening) return error("only one open per connection");
      if (!c.mailbox.empty() && f->mailbox != c.mailbox)
        return error("open must name the mailbox this connection claimed");
      if (const auto m = mailboxes_.find({c.app, f->mailbox});
          m != mailboxes_.end() && m->second.listeners.size() >= limits_.max_listeners) {
        why = "crowded";
      } else {
        why = open(peer, c, f->mailbox);
      }
      if (why.empty()) {
        Mailbox& m = mailboxes_.at({c.app, f->mailbox});
        m.listeners.insert(&peer);
        c.listening = true;
        for (const auto& old : m.messages) peer.deliver(old);
      }
      break;
    case MailboxRequest::add: {
      if (!c.listening) return error("must open mailbox before adding");
      Mailbox& m = mailboxes_.at({c.app, c.mailbox});
      if (m.messages.size() >= limits_.max_messages) return error("too many messages");
      std::string frame = proto::mailbox_message(c.side, f->phase, f->body, now, f->id);
      if (m.bytes + frame.size() > limits_.max_mailbox_bytes) return error("too many messages");
      if (stored_bytes_ + frame.size() > limits_.max_stored_bytes) {
        return error("the server is busy; try again later");
      }
      m.bytes += frame.size();
      stored_bytes_ += frame.size();
      m.messages.push_back(std::move(frame));
      ++messages_;
      for (MailboxPeer* l : m.listeners) l->deliver(m.messages.back());
      break;
    }
    case MailboxRequest::close: {
      if (c.closed) return error("only one close per connection");
      if (f->has_mailbox && !c.mailbox.empty() && f->mailbox != c.mailbox)
        return error("open and close must use same mailbox");
      if (!f->has_mailbox && c.mailbox.empty())
        return error("close without mailbox must follow open");
      c.closed = true;
      why = close(peer, c, f->has_mailbox ? f->mailbox : c.mailbox);
      if (why.empty()) peer.deliver(proto::mailbox_simple("closed"));
      break;
    }
    case MailboxRequest::bind:
    case MailboxRequest::ping:
      break;
  }
  return why.empty() || error(why);
}

std::string WormholeMailbox::claim(MailboxPeer& peer, Client& c, const std::string& name) {
  const Key k{c.app, name};
  auto it = nameplates_.find(k);
  if (it == nameplates_.end()) {
    if (nameplates_.size() >= limits_.max_nameplates) return "too many nameplates";
    it = nameplates_.emplace(k, Nameplate{random_mailbox_id(), {}, {}}).first;
  }
  Nameplate& n = it->second;
  const auto side = n.sides.find(c.side);
  if (side != n.sides.end() && !side->second)
    return "reclaimed";  // a side that released may not come back
  if (side == n.sides.end() && n.sides.size() >= 2) {
    drop_nameplate_if_unused(k);
    return "crowded";
  }
  n.sides[c.side] = true;
  n.holders.insert(&peer);
  c.nameplate = name;
  const std::string mailbox = n.mailbox;
  return open(peer, c, mailbox);
}

std::string WormholeMailbox::open(MailboxPeer& peer, Client& c, const std::string& id) {
  if (!c.mailbox.empty() && c.mailbox != id) return "one mailbox per connection";
  const Key k{c.app, id};
  auto it = mailboxes_.find(k);
  if (it == mailboxes_.end()) {
    if (mailboxes_.size() >= limits_.max_mailboxes) return "too many mailboxes";
    it = mailboxes_.emplace(k, Mailbox{}).first;
  }
  Mailbox& m = it->second;
  if (!m.sides.contains(c.side) && m.sides.size() >= 2) {
    drop_mailbox_if_unused(k);
    return "crowded";
  }
  m.sides.insert(c.side);
  m.holders.insert(&peer);
  c.mailbox = id;
  return {};
}

std::string WormholeMailbox::release(MailboxPeer& peer, Client& c, const std::string& name) {
  const Key k{c.app, name};
  const auto it = nameplates_.find(k);
  if (it == nameplates_.end()) return {};
  auto side = it->second.sides.find(c.side);
  if (side != it->second.sides.end()) side->second = false;
  it->second.holders.erase(&peer);
  bool all_released = true;
  for (const auto& [s, claimed] : it->second.sides) all_released = all_released && !claimed;
  if (all_released) {
    nameplates_.erase(it);
  } else {
    drop_nameplate_if_unused(k);
  }
  return {};
}

std::string WormholeMailbox::close(MailboxPeer& peer, Client& c, const std::string& id) {
  const Key k{c.app, id};
  const auto it = mailboxes_.find(k);
  if (it == mailboxes_.end()) return {};
  Mailbox& m = it->second;
  if (!m.sides.contains(c.side)) return "crowded";
  m.closed.insert(c.side);
  m.listeners.erase(&peer);
  m.holders.erase(&peer);
  c.listening = false;
  if (m.closed.size() == m.sides.size()) {
    stored_bytes_ -= m.bytes;
    mailboxes_.erase(it);
  } else {
    drop_mailbox_if_unused(k);
  }
  return {};
}

void WormholeMailbox::drop_nameplate_if_unused(const Key& k) {
  const auto it = nameplates_.find(k);
  if (it != nameplates_.end() && it->second.holders.empty()) nameplates_.erase(it);
}

void WormholeMailbox::drop_mailbox_if_unused(const Key& k) {
  const auto it = mailboxes_.find(k);
  if (it != mailboxes_.end() && it->second.holders.empty()) {
    stored_bytes_ -= it->second.bytes;
    mailboxes_.erase(it);
  }
}

void WormholeMailbox::on_disconnect(MailboxPeer& peer) {
  const auto it = clients_.find(&peer);
  if (it == clients_.end()) return;
  const Client& c = it->second;
  if (!c.nameplate.empty()) {
    const Key k{c.app, c.nameplate};
    if (auto n = nameplates_.find(k); n != nameplates_.end()) n->second.holders.erase(&peer);
    drop_nameplate_if_unused(k);
  }
  if (!c.mailbox.empty()) {
    const Key k{c.app, c.mailbox};
    if (auto m = mailboxes_.find(k); m != mailboxes_.end()) {
      m->second.holders.erase(&peer);
      m->second.listeners.erase(&peer);
    }
    drop_mailbox_if_unused(k);
  }
  clients_.erase(it);
}

bool WormholeMailbox::bound(const MailboxPeer& peer) const {
  const auto it = clients_.find(&peer);
  return it != clients_.end() && it->second.bound;
}

bool WormholeMailbox::holds(const MailboxPeer& peer) const {
  const auto it = clients_.find(&peer);
  return it != clients_.end() && (!it->second.nameplate.empty() || !it->second.mailbox.empty());
}

bool WormholeMailbox::paired(const MailboxPeer& peer) const {
  const auto it = clients_.find(&peer);
  if (it == clients_.end() || it->second.mailbox.empty()) return false;
  const auto m = mailboxes_.find({it->second.app, it->second.mailbox});
  return m != mailboxes_.end() && m->second.sides.size() >= 2;
}

WormholeMailboxStats WormholeMailbox::stats() const {
  return {clients_.size(), nameplates_.size(), mailboxes_.size(), messages_, stored_bytes_};
}

}  // namespace ferry::server
