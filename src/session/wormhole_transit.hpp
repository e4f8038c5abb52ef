// magic-wormhole's transit: the TCP connection the bytes travel on. Each side connects to every
// hint the other named (its addresses, and transit relays through the sided relay handshake)
// and the sender also accepts on a listening port; after the keyed handshake lines the sender
// says "go" on the first that completes. Then records: counter-nonce secretboxes.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "net/asio.hpp"
#include "proto/wormhole_crypto.hpp"
#include "proto/wormhole_message.hpp"
#include "session/observer.hpp"

namespace ferry::session {

struct TransitConnection {
  net::beast::tcp_stream stream;
  bool relay = false;
  std::string peer;  // address:port, for the person
};

// The sender's listening socket for direct connections, and the hints that name it.
class TransitListener {
 public:
  static proto::Result<TransitListener> open(const net::asio::any_io_executor& ex);
  std::vector<proto::TransitHint> hints() const;
  net::tcp::acceptor& acceptor() { return acceptor_; }

 private:
  explicit TransitListener(net::tcp::acceptor a) : acceptor_(std::move(a)) {}
  net::tcp::acceptor acceptor_;
};

// Connects to every hint at once (and, for the sender, takes connections on listener) until one
// completes the handshake and the sender's decision.
net::awaitable<proto::Result<TransitConnection>> transit_connect(
    proto::TransitRole role, std::vector<proto::TransitHint> hints,
    const proto::WormholeKey& transit_key, TransitListener* listener);

// `size` bytes of records to `write`; returns their SHA-256 (hex) for the ack.
net::awaitable<proto::Result<std::string>> receive_transit_records(
    net::beast::tcp_stream& s, proto::TransitRecords& records, std::uint64_t size,
    const std::function<proto::Result<void>(proto::ByteView)>& write, Observer& observer);
// `size` bytes from `read` (which fills the buffer it is given, or fails) as records; returns
// their SHA-256 (hex).
net::awaitable<proto::Result<std::string>> send_transit_records(
    net::beast::tcp_stream& s, proto::TransitRecords& records, std::uint64_t size,
    const std::function<proto::Result<void>(std::span<std::uint8_t>)>& read, Observer& observer);
// One short record (the receiver's ack), bounded.
net::awaitable<proto::Result<proto::Bytes>> receive_transit_record(net::beast::tcp_stream& s,
                                                                   proto::TransitRecords& records);

}  // namespace ferry::session
