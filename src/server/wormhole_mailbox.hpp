// magic-wormhole's mailbox protocol as `ferry serve` answers it at /v1, so unmodified wormhole
// clients rendezvous here: per application id, nameplates (short numbers, each claimed by at
// most two sides) that point at mailboxes (random ids, opened by at most two sides) whose
// messages every listener receives, its own included. Pure state, no sockets: a connection calls
// in with each frame and gets its answers through MailboxPeer. Bounded: nameplates, mailboxes,
// messages per mailbox, and everything a client holds goes when its last connection does.
#pragma once

#include <cstdint>
#include <map>
#include <set>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

namespace ferry::server {

class MailboxPeer {
 public:
  virtual ~MailboxPeer() = default;
  virtual void deliver(std::string frame) = 0;
  // Whether this client's address may try one more code now (a claim of a nameplate it did not
  // allocate is a guess at its code): the server's claim limit, shared with its own rendezvous.
  virtual bool may_try_a_code() { return true; }
};

struct WormholeMailboxLimits {
  std::size_t max_nameplates = 100'000;
  std::size_t max_mailboxes = 100'000;
  std::size_t max_messages = 64;  // per mailbox; a transfer uses about six
  // The bytes of one mailbox's messages (each is replayed to every listener that opens it), and
  // of every mailbox's together: a transfer's messages are a few kB.
  std::size_t max_mailbox_bytes = std::size_t{128} * 1024;
  std::size_t max_stored_bytes = std::size_t{32} << 20;
  // Connections listening on one mailbox: its two sides, each perhaps once more on a new
  // connection while the old one is not yet known to be gone.
  std::size_t max_listeners = 4;
  std::size_t max_errors = 8;  // per connection, then it is closed
};

struct WormholeMailboxStats {
  std::size_t clients = 0;
  std::size_t nameplates = 0;
  std::size_t mailboxes = 0;
  std::uint64_t messages = 0;
  std::size_t stored_bytes = 0;  // every mailbox's messages, held for replay
};

class WormholeMailbox {
 public:
  explicit WormholeMailbox(WormholeMailboxLimits limits) : limits_(limits) {}

  void on_connect(MailboxPeer& peer);  // sends the welcome
  // One text frame; false when the connection must close (too many errors).
  bool on_frame(MailboxPeer& peer, std::string_view text, double now);
  void on_disconnect(MailboxPeer& peer);
  // Whether the client said which application it is (bind).
  bool bound(const MailboxPeer& peer) const;
  // Whether it holds a nameplate or a mailbox (a bare bind holds nothing and proves nothing).
  bool holds(const MailboxPeer& peer) const;
  // Whether its mailbox has been opened by both sides.
  bool paired(const MailboxPeer& peer) const;
  WormholeMailboxStats stats() const;

 private:
  struct Client {
    std::string app, side;
    bool bound = false, allocated = false, claimed = false, released = false, closed = false;
    std::string nameplate;  // claimed
    std::string mailbox;    // opened
    bool listening = false;
    std::size_t errors = 0;
  };
  struct Nameplate {
    std::string mailbox;
    std::map<std::string, bool> sides;  // side -> still claimed (false once released)
    std::set<MailboxPeer*> holders;
  };
  struct Mailbox {
    std::set<std::string> sides;
    std::set<std::string> closed;
    std::vector<std::string> messages;  // "message" frames, replayed to each new listener
    std::size_t bytes = 0;              // of those frames
    std::set<MailboxPeer*> listeners;
    std::set<MailboxPeer*> holders;
  };
  using Key = std::pair<std::string, std::string>;  // (app, id)

  // Each returns an error sentence, or "" when done.
  std::string claim(MailboxPeer& peer, Client& c, const std::string& name);
  std::string open(MailboxPeer& peer, Client& c, const std::string& id);
  std::string release(MailboxPeer& peer, Client& c, const std::string& name);
  std::string close(MailboxPeer& peer, Client& c, const std::string& id);
  void drop_nameplate_if_unused(const Key& k);
  void drop_mailbox_if_unused(const Key& k);

  WormholeMailboxLimits limits_;
  std::unordered_map<const MailboxPeer*, Client> clients_;
  std::map<Key, Nameplate> nameplates_;
  std::map<Key, Mailbox> mailboxes_;
  std::uint64_t messages_ = 0;
  std::size_t stored_bytes_ = 0;  // every mailbox's messages
};

}  // namespace ferry::server
