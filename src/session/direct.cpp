#include "session/direct.hpp"

#include <sodium.h>

#include <boost/asio/ip/multicast.hpp>
#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>
#include <map>

#include "net/port_mapping.hpp"
#include "net/tcp.hpp"
#include "proto/lan_discovery.hpp"
#include "session/file_sink.hpp"
#include "session/handshake.hpp"
#include "session/message_channel.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;
using udp = asio::ip::udp;

namespace {

constexpr std::size_t kMaxFrame = 4096;
constexpr auto kFrameTimeout = 10s;
constexpr auto kDialTimeout = 5s;
// Handshakes `send --direct` runs at once: from everyone, and from one address.
constexpr std::size_t kMaxHandshakes = 32;
constexpr std::size_t kMaxHandshakesPerAddress = 4;
constexpr auto kLanQueryInterval = 500ms;

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}

class FramedChannel;

// A short code (LAN mode: 16 bits of secret) allows one guess. The guess is spent the moment the
// sender answers a receiver's CPace share with its own share and confirmation: from then on the
// receiver can check its one guess offline, whether or not it ever confirms. So the first
// connection the sender answers spends it, and every other connection is refused its answer.
class GuessBudget {
 public:
  // Whether `by` may have the answer: it is the first to ask, or already spent the guess.
  bool take(const FramedChannel* by) {
    if (spender_ == nullptr) spender_ = by;
    return spender_ == by;
  }
  bool spent_by(const FramedChannel* by) const { return spender_ != nullptr && spender_ == by; }

 private:
  const FramedChannel* spender_ = nullptr;
};

// The PAKE's messages as length-prefixed frames on the TCP connection the transfer then uses.
class FramedChannel : public MessageChannel {
 public:
  FramedChannel(beast::tcp_stream s, std::shared_ptr<GuessBudget> budget)
      : s_(std::move(s)), budget_(std::move(budget)) {}
  awaitable<proto::Result<void>> send(const proto::Bytes& body) override {
    // (A version notice instead of our share says nothing about the code: no guess.)
    if (budget_ && !proto::is_version_notice(body) && !budget_->take(this)) {
      co_return proto::fail(Errc::protocol, "another connection already spent the code's guess");
    }
    proto::Bytes frame;
    proto::append_u32(frame, static_cast<std::uint32_t>(body.size()));
    proto::append(frame, body);
    error_code ec;
    s_.expires_after(kFrameTimeout);
    co_await asio::async_write(s_, asio::buffer(frame), redirect(ec));
    s_.expires_never();
    if (ec) co_return proto::fail(Errc::peer_gone, "the other side left: " + describe(ec));
    co_return proto::Result<void>{};
  }
  awaitable<proto::Result<proto::Bytes>> receive() override {
    std::array<std::uint8_t, 4> head{};
    error_code ec;
    s_.expires_after(kFrameTimeout);
    co_await asio::async_read(s_, asio::buffer(head), redirect(ec));
    const std::uint32_t n = proto::read_u32(head.data());
    proto::Bytes body(ec || n > kMaxFrame ? 0 : n);
    if (!ec && n <= kMaxFrame) co_await asio::async_read(s_, asio::buffer(body), redirect(ec));
    s_.expires_never();
    if (ec) co_return proto::fail(Errc::peer_gone, "the other side left: " + describe(ec));
    if (n > kMaxFrame)
      co_return proto::fail(Errc::protocol, "the other side sent an oversized frame");
    co_return body;
  }
  beast::tcp_stream release() { return std::move(s_); }
  void close() {
    error_code ec;
    s_.socket().close(ec);
  }
  // Whether this connection was answered with the sender's share (and so had the code's guess).
  bool spent_guess() const { return budget_ && budget_->spent_by(this); }

 private:
  beast::tcp_stream s_;
  std::shared_ptr<GuessBudget> budget_;
};

awaitable<proto::Result<std::shared_ptr<RecordPipe>>> start_pipe(FramedChannel& channel,
                                                                 const SessionSecrets& secrets,
                                                                 const std::string& what) {
  const bool sender = secrets.side == proto::Side::sender;
  auto pipe = std::make_shared<RecordPipe>(
      std::make_unique<SocketStream>(AnyStream(channel.release()), what), what);
  auto started = co_await pipe->start(
      sender ? secrets.keys.stream_sender : secrets.keys.stream_receiver,
      sender ? secrets.keys.stream_receiver : secrets.keys.stream_sender,
      proto::RecordCipher::xchacha20poly1305, kFrameTimeout);  // no notes, no features
  if (!started) co_return std::unexpected(started.error());
  co_return pipe;
}

// The transfer over a serverless connection whose PAKE just succeeded, from either side.
awaitable<proto::Result<void>> send_on(FramedChannel& channel, const SessionSecrets& secrets,
                                       const std::string& peer, const FileSource& source,
                                       Observer& observer, Cancellation* cancellation) {
  const std::string what = "direct from " + peer;  // named: see asio.hpp on temporaries
  auto pipe = co_await start_pipe(channel, secrets, what);
  if (!pipe) co_return std::unexpected(pipe.error());
  observer.on_event(event::Connected{.path = proto::PathKind::direct, .peer = peer});
  // Named: see asio.hpp on temporaries in co_await.
  ChosenPipe chosen{*pipe, proto::PathKind::direct, peer, proto::PipeTransport::tcp, nullptr, {}};
  co_return co_await send_over(std::move(chosen), source, observer, cancellation);
}

awaitable<proto::Result<void>> receive_on(FramedChannel& channel, const SessionSecrets& secrets,
                                          const std::string& peer, FileSink& sink,
                                          const ReceiveOptions& options, Observer& observer) {
  const std::string what = "direct to " + peer;  // named: see asio.hpp on temporaries
  auto pipe = co_await start_pipe(channel, secrets, what);
  if (!pipe) co_return std::unexpected(pipe.error());
  observer.on_event(event::Connected{.path = proto::PathKind::direct, .peer = peer});
  std::function<void()> no_callback;  // named: see asio.hpp on temporaries in co_await
  ChosenPipe chosen{*pipe, proto::PathKind::direct, peer, proto::PipeTransport::tcp, nullptr, {}};
  co_return co_await receive_over(std::move(chosen), sink, options, observer,
                                  std::move(no_callback));
}

// A TCP listener on every address (dual-stack when IPv6 is there) on a port the kernel picks.
proto::Result<tcp::acceptor> open_listener(const asio::any_io_executor& ex) {
  error_code ec;
  tcp::acceptor acceptor(ex);
  acceptor.open(tcp::v6(), ec);
  if (!ec) acceptor.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acceptor.bind(tcp::endpoint(tcp::v6(), 0), ec);
  if (ec) {
    acceptor = tcp::acceptor(ex);
    ec.clear();
    acceptor.open(tcp::v4(), ec);
    if (!ec) acceptor.bind(tcp::endpoint(tcp::v4(), 0), ec);
  }
  if (!ec) acceptor.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return proto::fail(Errc::io_error, "cannot open a listening socket: " + describe(ec));
  return acceptor;
}

// The next datagram on socket that is a LAN discovery message; nothing once the socket closes.
awaitable<std::optional<std::pair<proto::LanMessage, udp::endpoint>>> next_lan_message(
    udp::socket& socket) {
  std::array<std::uint8_t, proto::kLanMaxDatagram + 1> buf{};
  for (;;) {
    udp::endpoint from;
    error_code ec;
    const std::size_t n = co_await socket.async_receive_from(asio::buffer(buf), from, redirect(ec));
    if (!socket.is_open() || ec == asio::error::operation_aborted) co_return std::nullopt;
    if (ec) continue;
    if (auto m = proto::decode_lan(proto::ByteView(buf.data(), n))) {
      co_return std::make_pair(std::move(*m), from);
    }
  }
}

// The sender's side of LAN discovery: answers queries for its code's number with its port.
awaitable<void> answer_lan_queries(std::shared_ptr<udp::socket> socket, std::string nameplate,
                                   std::uint16_t port, proto::Bytes session_nonce) {
  while (auto next = co_await next_lan_message(*socket)) {
    const auto* q = std::get_if<proto::LanQuery>(&next->first);
    if (q == nullptr || q->nameplate != nameplate) continue;
    const proto::Bytes answer =
        proto::encode_lan(proto::LanAnswer{nameplate, q->nonce, port, session_nonce});
    error_code ec;
    co_await socket->async_send_to(asio::buffer(answer), next->second, redirect(ec));
  }
}

// The receiver's side: asks every IPv4 network this host is on (multicast, broadcast, and this
// host itself) until a sender with the number answers or `wait` passes.
awaitable<proto::Result<std::pair<tcp::endpoint, proto::Bytes>>> find_lan_sender(
    const std::string& nameplate, std::chrono::seconds wait) {
  auto ex = co_await asio::this_coro::executor;
  auto socket = std::make_shared<udp::socket>(ex);
  error_code ec;
  socket->open(udp::v4(), ec);
  if (!ec) socket->set_option(asio::socket_base::broadcast(true), ec);
  if (!ec) socket->bind(udp::endpoint(udp::v4(), 0), ec);
  if (ec) co_return proto::fail(Errc::io_error, "cannot open a UDP socket: " + describe(ec));
  proto::LanQuery query{nameplate, proto::Bytes(proto::kLanNonceBytes)};
  randombytes_buf(query.nonce.data(), query.nonce.size());
  const proto::Bytes datagram = proto::encode_lan(query);

  struct Found {
    explicit Found(const asio::any_io_executor& ex) : ready(ex) {}
    asio::steady_timer ready;
    std::optional<std::pair<tcp::endpoint, proto::Bytes>> sender;
  };
  auto found = std::make_shared<Found>(ex);
  asio::co_spawn(
      ex,
      [socket, found, query]() -> awaitable<void> {
        while (auto next = co_await next_lan_message(*socket)) {
          const auto* a = std::get_if<proto::LanAnswer>(&next->first);
          if (a == nullptr || a->nonce != query.nonce || a->nameplate != query.nameplate) continue;
          found->sender.emplace(tcp::endpoint(next->second.address(), a->port), a->session_nonce);
          found->ready.cancel();
          co_return;
        }
      },
      asio::detached);
  const auto group = asio::ip::make_address_v4(std::string(proto::kLanGroup));
  const auto deadline = std::chrono::steady_clock::now() + wait;
  while (!found->sender && std::chrono::steady_clock::now() < deadline) {
    for (const auto& itf : ipv4_interfaces()) {
      if (itf.multicast && !itf.loopback) {
        socket->set_option(asio::ip::multicast::outbound_interface(itf.address), ec);
        if (!ec)
          socket->send_to(asio::buffer(datagram), udp::endpoint(group, proto::kLanPort), 0, ec);
      }
      if (itf.broadcast) {
        socket->send_to(asio::buffer(datagram), udp::endpoint(*itf.broadcast, proto::kLanPort), 0,
                        ec);
      }
    }
    socket->send_to(asio::buffer(datagram),
                    udp::endpoint(asio::ip::address_v4::loopback(), proto::kLanPort), 0, ec);
    found->ready.expires_after(kLanQueryInterval);
    co_await found->ready.async_wait(redirect(ec));
  }
  socket->close(ec);
  if (!found->sender) {
    co_return proto::fail(Errc::no_sender,
                          "no sender on this network answered for code number " + nameplate +
                              " within " + std::to_string(wait.count()) +
                              " s (without a server, both computers must be on the same network; "
                              "with one, pass --server or set FERRY_SERVER)");
  }
  co_return std::move(*found->sender);
}

}  // namespace

namespace {

// The connections a serverless sender is shaking hands with, and the one that knew the code.
// Every connection gets its handshake at once (a silent one holds up nobody), within limits per
// address and overall.
struct Lobby {
  Lobby(tcp::acceptor a, proto::Bytes sid, proto::Secret code, std::shared_ptr<GuessBudget> b)
      : acceptor(std::move(a)),
        session_id(std::move(sid)),
        secret(std::move(code)),
        budget(std::move(b)),
        done(acceptor.get_executor(), asio::steady_timer::time_point::max()) {}
  // Ends every other handshake and the accepting; nothing here touches the observer afterwards.
  void finish() {
    finished = true;
    error_code ec;
    acceptor.close(ec);
    for (auto& w : live) {
      if (auto ch = w.lock(); ch && ch != winner) ch->close();
    }
    live.clear();
  }
  tcp::acceptor acceptor;
  const proto::Bytes session_id;
  const proto::Secret secret;
  // LAN mode's one guess (absent for a direct code, whose 128-bit secret nobody can guess).
  const std::shared_ptr<GuessBudget> budget;
  asio::steady_timer done;
  bool finished = false;
  std::shared_ptr<FramedChannel> winner;
  SessionSecrets secrets;
  std::string peer;
  proto::Error failure{Errc::io_error, ""};
  std::map<asio::ip::address, std::size_t> per_address;  // handshakes under way, by address
  std::vector<std::weak_ptr<FramedChannel>> live;        // the channels of those handshakes
};

awaitable<void> lobby_handshake(std::shared_ptr<Lobby> lobby,
                                std::shared_ptr<FramedChannel> channel, asio::ip::address from,
                                std::string peer, Observer& observer) {
  auto secrets = co_await pake_as_sender(*channel, lobby->session_id, lobby->secret, lobby->secret);
  if (--lobby->per_address[from] == 0) lobby->per_address.erase(from);
  if (lobby->finished || lobby->winner) co_return;
  if (!secrets) {
    if (channel->spent_guess()) {
      // Answered, then wrong, silent or gone: the one guess is spent either way.
      lobby->failure = proto::Error{
          Errc::wrong_code,
          secrets.error().code == Errc::wrong_code
              ? peer +
                    " tried a code that did not match; it is spent (a short code allows one "
                    "guess). "
                    "Start again with a new code"
              : peer +
                    " started the key exchange and left before finishing it, which is how "
                    "a guess at the code looks; the code is spent (a short code allows one "
                    "guess). Start again with a new code"};
      lobby->done.cancel();
    } else if (secrets.error().code == Errc::wrong_code) {
      observer.on_event(event::Note{peer + " connected but did not know the code; still waiting"});
    }
    // Otherwise a connection that just closes: the receiver's spare dial to another address.
    co_return;
  }
  lobby->winner = std::move(channel);
  lobby->secrets = std::move(*secrets);
  lobby->peer = std::move(peer);
  lobby->done.cancel();
}

awaitable<void> accept_handshakes(std::shared_ptr<Lobby> lobby, Observer& observer) {
  auto ex = co_await asio::this_coro::executor;
  for (;;) {
    error_code ec;
    tcp::socket s = co_await lobby->acceptor.async_accept(redirect(ec));
    if (lobby->finished) co_return;
    if (ec) {
      lobby->failure = proto::Error{Errc::io_error, "cannot accept connections: " + describe(ec)};
      lobby->done.cancel();
      co_return;
    }
    // A channel dies with its handshake, so the live ones are the handshakes under way.
    std::erase_if(lobby->live, [](const auto& w) { return w.expired(); });
    const auto from = unmapped(s.remote_endpoint(ec).address());
    const auto same = lobby->per_address.find(from);
    if (ec || lobby->live.size() >= kMaxHandshakes ||
        (same != lobby->per_address.end() && same->second >= kMaxHandshakesPerAddress)) {
      continue;  // over the limits: closed at once
    }
    tune_for_bulk(s);
    const std::string peer = endpoint_text(s.remote_endpoint(ec));
    if (lobby->live.empty()) observer.on_event(event::PeerJoined{});
    ++lobby->per_address[from];
    auto channel = std::make_shared<FramedChannel>(beast::tcp_stream(std::move(s)), lobby->budget);
    lobby->live.push_back(channel);
    asio::co_spawn(ex, lobby_handshake(lobby, std::move(channel), from, peer, observer),
                   asio::detached);
  }
}

// Accepts until a connection proves it knows the code (or, with a budget, the guess is spent),
// then sends on it.
awaitable<proto::Result<void>> send_from_lobby(std::shared_ptr<Lobby> lobby,
                                               const FileSource& source, Observer& observer,
                                               Cancellation* cancellation) {
  auto ex = co_await asio::this_coro::executor;
  asio::co_spawn(ex, accept_handshakes(lobby, observer), asio::detached);
  error_code ec;
  co_await lobby->done.async_wait(redirect(ec));
  lobby->finish();
  if (!lobby->winner) co_return std::unexpected(lobby->failure);
  co_return co_await send_on(*lobby->winner, lobby->secrets, lobby->peer, source, observer,
                             cancellation);
}

}  // namespace

awaitable<proto::Result<void>> send_lan(const FileSource& source,
                                        std::optional<proto::Secret> chosen, Observer& observer,
                                        Cancellation* cancellation) {
  auto ex = co_await asio::this_coro::executor;
  auto acceptor = open_listener(ex);
  if (!acceptor) co_return std::unexpected(acceptor.error());
  const std::uint16_t port = acceptor->local_endpoint().port();
  proto::Secret words;
  if (chosen) {
    words = *chosen;
  } else {
    words.words = random_words();
    words.nameplate = std::to_string(1 + randombytes_uniform(99));
  }
  proto::Bytes session_nonce(proto::kLanNonceBytes);
  randombytes_buf(session_nonce.data(), session_nonce.size());

  error_code ec;
  auto socket = std::make_shared<udp::socket>(ex);
  socket->open(udp::v4(), ec);
  if (!ec) socket->set_option(asio::socket_base::reuse_address(true), ec);
  if (!ec) socket->bind(udp::endpoint(udp::v4(), proto::kLanPort), ec);
  if (ec) {
    co_return proto::fail(Errc::io_error, "cannot listen for receivers on this network (UDP port " +
                                              std::to_string(proto::kLanPort) +
                                              "): " + describe(ec));
  }
  const auto group = asio::ip::make_address_v4(std::string(proto::kLanGroup));
  for (const auto& itf : ipv4_interfaces()) {
    error_code ignored;  // an interface without multicast still hears broadcasts
    if (itf.multicast)
      socket->set_option(asio::ip::multicast::join_group(group, itf.address), ignored);
  }
  struct Closer {
    std::shared_ptr<udp::socket> s;
    ~Closer() {
      error_code ignored;
      s->close(ignored);
    }
  } closer{socket};
  asio::co_spawn(ex, answer_lan_queries(socket, words.nameplate, port, session_nonce),
                 asio::detached);
  observer.on_event(event::Note{
      "No server is configured, so this works on this network only: the receiver runs the "
      "command below on a computer on the same network. (To send anywhere, name a server with "
      "--server or FERRY_SERVER.)"});
  observer.on_event(event::CodeReady{proto::format_code(words), ""});

  auto lobby = std::make_shared<Lobby>(std::move(*acceptor), proto::lan_session_id(session_nonce),
                                       words, std::make_shared<GuessBudget>());
  co_return co_await send_from_lobby(std::move(lobby), source, observer, cancellation);
}

awaitable<proto::Result<void>> receive_lan(proto::Secret secret, ReceiveOptions options,
                                           Observer& observer) {
  auto sink = open_sink(options);
  if (!sink) co_return std::unexpected(sink.error());
  observer.on_event(event::Note{"No server is configured: looking for the sender on this network"});
  auto sender = co_await find_lan_sender(secret.nameplate, options.wait);
  if (!sender) co_return std::unexpected(sender.error());
  const std::string peer = endpoint_text(sender->first);
  auto stream = co_await connect_tcp(sender->first, kDialTimeout);
  if (!stream) {
    co_return proto::fail(Errc::no_path, "found the sender at " + peer +
                                             " but could not connect: " + stream.error().detail);
  }
  observer.on_event(event::PeerJoined{});
  FramedChannel channel{std::move(*stream), nullptr};
  auto secrets = co_await pake_as_receiver(channel, proto::lan_session_id(sender->second), secret);
  if (!secrets && secrets.error().code == Errc::peer_gone) {
    // The sender stopped, or refused its answer: it answers one guess per code.
    co_return proto::fail(Errc::peer_gone,
                          "the sender at " + peer +
                              " closed the connection before the key exchange: another computer "
                              "on this network may have tried the code first, and a short code "
                              "allows one guess. Ask the sender for a new code");
  }
  if (!secrets) co_return std::unexpected(secrets.error());
  co_return co_await receive_on(channel, *secrets, peer, *sink, options, observer);
}

awaitable<proto::Result<void>> send_direct(const FileSource& source, Observer& observer,
                                           Cancellation* cancellation) {
  auto ex = co_await asio::this_coro::executor;
  auto listener = open_listener(ex);
  if (!listener) co_return std::unexpected(listener.error());
  tcp::acceptor acceptor = std::move(*listener);
  const std::uint16_t port = acceptor.local_endpoint().port();
  const bool v6 = acceptor.local_endpoint().address().is_v6();

  // The router's mapping, if it grants one, lives as long as this transfer.
  PortMapper mapper(ex);
  const auto mapped = co_await mapper.map(port, 0, Budgets::kPortMapping);
  proto::DirectCode code;
  code.secret.resize(16);
  randombytes_buf(code.secret.data(), code.secret.size());
  std::vector<proto::IpPort> loopback;
  for (const auto& m : mapped) {
    if (auto ip = proto::parse_ip(m.external_address))
      code.addresses.push_back({*ip, m.external_port});
  }
  for (const auto& a : local_addresses()) {
    if (a.is_v6() && !v6) continue;
    auto ip = proto::parse_ip(a.to_string());
    if (!ip) continue;
    (a.is_loopback() ? loopback : code.addresses).push_back({*ip, port});
  }
  code.addresses.insert(code.addresses.end(), loopback.begin(), loopback.end());
  if (code.addresses.size() > proto::kDirectMaxAddresses) {
    code.addresses.resize(proto::kDirectMaxAddresses);
  }
  if (mapped.empty()) {
    observer.on_event(event::Note{
        "no router mapped a port (UPnP-IGD, NAT-PMP), so only computers on this network can "
        "receive without a server"});
  }
  observer.on_event(event::CodeReady{proto::format_direct_code(code), ""});

  // The code's secret is 128 random bits: wrong attempts cannot guess it, so they only cost
  // their slot, and the sender waits on.
  const proto::ByteView sid = proto::direct_session_id();
  auto lobby = std::make_shared<Lobby>(std::move(acceptor), proto::Bytes(sid.begin(), sid.end()),
                                       proto::direct_secret(code), nullptr);
  co_return co_await send_from_lobby(std::move(lobby), source, observer, cancellation);
}

awaitable<proto::Result<void>> receive_direct(proto::DirectCode code, ReceiveOptions options,
                                              Observer& observer) {
  auto sink = open_sink(options);
  if (!sink) co_return std::unexpected(sink.error());
  auto ex = co_await asio::this_coro::executor;

  // Every address at once; the first connection wins.
  struct Dial {
    explicit Dial(const asio::any_io_executor& ex)
        : done(ex, std::chrono::steady_clock::time_point::max()) {}
    asio::steady_timer done;
    std::optional<beast::tcp_stream> winner;
    std::string winner_peer;
    std::vector<std::string> failures;
    std::size_t left = 0;
  };
  auto dial = std::make_shared<Dial>(ex);
  dial->left = code.addresses.size();
  for (const auto& a : code.addresses) {
    const tcp::endpoint ep(address_of(a), a.port);
    asio::co_spawn(
        ex,
        [dial, ep]() -> awaitable<void> {
          auto s = co_await connect_tcp(ep, kDialTimeout);
          if (s && !dial->winner) {
            dial->winner.emplace(std::move(*s));
            dial->winner_peer = endpoint_text(ep);
            dial->done.cancel();
          } else if (!s) {
            dial->failures.push_back(endpoint_text(ep) + ": " + s.error().detail);
          }
          if (--dial->left == 0) dial->done.cancel();
        },
        asio::detached);
  }
  error_code ec;
  co_await dial->done.async_wait(redirect(ec));
  if (!dial->winner) {
    std::string detail = "could not reach the sender directly. Tried:";
    for (const auto& f : dial->failures) detail += "\n  - " + f;
    detail +=
        "\nA direct code works on the sender's own network, or from anywhere when the sender's "
        "router maps a port (UPnP or NAT-PMP); otherwise send through a server (ferry send "
        "without --direct)";
    co_return proto::fail(Errc::no_path, detail);
  }
  observer.on_event(event::PeerJoined{});
  tune_for_bulk(dial->winner->socket());
  FramedChannel channel{std::move(*dial->winner), nullptr};
  auto secrets =
      co_await pake_as_receiver(channel, proto::direct_session_id(), proto::direct_secret(code));
  if (!secrets) co_return std::unexpected(secrets.error());
  co_return co_await receive_on(channel, *secrets, dial->winner_peer, *sink, options, observer);
}

}  // namespace ferry::session
