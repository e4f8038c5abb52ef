#include "session/pipe_race.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/relay_client.hpp"
#include "net/tcp.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::Errc;

namespace {
constexpr auto kConnectTimeout = 3s;
constexpr auto kSimultaneousOpenTimeout = 7s;  // covers SYN retransmits at 1 s and 3 s
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
constexpr auto kHelloTimeout = 5s;

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}
}  // namespace

RaceStopper::~RaceStopper() {
  if (race) race->stop();
  if (udp) udp->stop();
}

PipeRace::PipeRace(const asio::any_io_executor& ex, const SessionSecrets& secrets)
    : ex_(ex), secrets_(secrets), wake_(ex) {}

proto::Result<proto::Candidates> PipeRace::listen(const std::string& observed) {
  // One dual-stack socket where IPv6 exists, else IPv4 only. SO_REUSEPORT lets our outgoing
  // simultaneous-open dials use the same port.
  error_code ec;
  tcp::acceptor acc(ex_);
  acc.open(tcp::v6(), ec);
  if (!ec) acc.set_option(asio::ip::v6_only(false), ec);
  if (!ec) acc.set_option(reuse_port(true), ec);
  if (!ec) acc.bind(tcp::endpoint(tcp::v6(), 0), ec);
  if (ec) {
    acc = tcp::acceptor(ex_);
    ec.clear();
    acc.open(tcp::v4(), ec);
    if (!ec) acc.set_option(reuse_port(true), ec);
    if (!ec) acc.bind(tcp::endpoint(tcp::v4(), 0), ec);
  }
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return proto::fail(Errc::io_error, "cannot open a listening socket: " + ec.message());
  const std::uint16_t port = acc.local_endpoint().port();
  listen_port_ = port;
  const bool v6 = acc.local_endpoint().address().is_v6();
  acceptors_.push_back(std::move(acc));
  asio::co_spawn(ex_, accept_loop(shared_from_this(), acceptors_.size() - 1), asio::detached);
  proto::Candidates out;
  bool observed_is_ours = observed.empty();
  for (const auto& addr : local_addresses()) {
    if (addr.is_v6() && !v6) continue;
    out.list.push_back({"tcp", addr.to_string(), port, "host"});
    observed_is_ours = observed_is_ours || addr.to_string() == observed;
  }
  if (!observed_is_ours) out.list.push_back({"tcp", observed, port, "srflx"});
  return out;
}

void PipeRace::connect_to(const proto::Candidates& candidates) {
  for (const auto& c : candidates.list) {
    if (c.transport != "tcp") continue;  // UDP candidates are use_udp's
    error_code ec;
    const auto addr = asio::ip::make_address(c.address, ec);
    if (ec) continue;
    ++pending_;
    const tcp::endpoint ep(addr, c.port);
    if (c.kind == "srflx" && listen_port_ != 0) {
      asio::co_spawn(ex_, connect_simultaneous(shared_from_this(), ep), asio::detached);
    } else {
      asio::co_spawn(ex_, connect_direct(shared_from_this(), ep), asio::detached);
    }
  }
}

void PipeRace::use_relay(const proto::ServerUrl& server, std::chrono::milliseconds delay) {
  ++pending_;
  asio::co_spawn(ex_, connect_relay(shared_from_this(), server, delay), asio::detached);
}

void PipeRace::add_candidates(const proto::Candidates& more) {
  if (over()) return;
  connect_to(more);
  if (udp_) udp_->add_targets(more);
}

void PipeRace::use_udp(std::shared_ptr<UdpPaths> udp, const proto::Candidates& theirs,
                       std::chrono::milliseconds budget) {
  ++pending_;
  udp_ = udp;
  asio::co_spawn(ex_, connect_udp(shared_from_this(), std::move(udp), theirs, budget),
                 asio::detached);
}

void PipeRace::fail(proto::Error error) {
  // After a pipe won, the mailbox closing (or the peer leaving it) ends nothing: upgrades go on.
  if (over() || upgrading_) return;
  failure_ = std::move(error);
  wake_.cancel();
}

void PipeRace::attempt_failed(std::string what) {
  tried_.push_back(std::move(what));
  if (--pending_ == 0 && acceptors_.empty()) wake_.cancel();  // nothing left to wait for
}

awaitable<void> PipeRace::accept_loop(std::shared_ptr<PipeRace> /*keep_alive*/, std::size_t index) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acceptors_[index].async_accept(redirect(ec));
    if (ec || over()) co_return;
    s.set_option(tcp::no_delay(true), ec);
    const std::string peer = endpoint_text(s.remote_endpoint(ec));
    const std::string what = "direct from " + peer;
    auto pipe = std::make_shared<RecordPipe>(
        std::make_unique<SocketStream>(AnyStream(beast::tcp_stream(std::move(s))), what), what);
    live_.push_back(pipe);
    asio::co_spawn(ex_, authenticate(pipe, "direct", peer, false), asio::detached);
  }
}

awaitable<void> PipeRace::connect_direct(std::shared_ptr<PipeRace> /*keep_alive*/,
                                         tcp::endpoint ep) {
  const std::string peer = endpoint_text(ep);
  auto stream = co_await connect_tcp(ep, kConnectTimeout);
  if (!stream) co_return attempt_failed("direct TCP to " + peer + ": " + stream.error().detail);
  if (over()) co_return;
  const std::string what = "direct to " + peer;
  auto pipe = std::make_shared<RecordPipe>(
      std::make_unique<SocketStream>(AnyStream(std::move(*stream)), what), what);
  live_.push_back(pipe);
  co_await authenticate(pipe, "direct", peer, true);
}

awaitable<void> PipeRace::connect_simultaneous(std::shared_ptr<PipeRace> /*keep_alive*/,
                                               tcp::endpoint ep) {
  const std::string peer = endpoint_text(ep);
  const std::string what = "direct to " + peer + " (TCP simultaneous open)";
  tcp::socket s(ex_);
  error_code ec;
  s.open(ep.protocol(), ec);
  if (!ec) s.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) s.set_option(reuse_port(true), ec);
  if (!ec) s.bind(tcp::endpoint(ep.address().is_v4() ? tcp::v4() : tcp::v6(), listen_port_), ec);
  if (ec) co_return attempt_failed(what + ": " + describe(ec));
  beast::tcp_stream stream(std::move(s));
  stream.expires_after(kSimultaneousOpenTimeout);
  co_await stream.async_connect(ep, redirect(ec));
  if (ec) co_return attempt_failed(what + ": " + describe(ec));
  if (over()) co_return;
  stream.expires_never();
  stream.socket().set_option(tcp::no_delay(true), ec);
  auto pipe = std::make_shared<RecordPipe>(
      std::make_unique<SocketStream>(AnyStream(std::move(stream)), what), what);
  live_.push_back(pipe);
  co_await authenticate(pipe, "direct", peer, true);
}

awaitable<void> PipeRace::connect_udp(std::shared_ptr<PipeRace> /*keep_alive*/,
                                      std::shared_ptr<UdpPaths> udp, proto::Candidates theirs,
                                      std::chrono::milliseconds budget) {
  auto punched = co_await udp->connect(secrets_, theirs, budget);
  if (!punched) co_return attempt_failed(punched.error().detail);
  if (over()) co_return attempt_failed("direct UDP: another path won");
  const std::string what = "direct to " + punched->peer + " (QUIC over UDP)";
  auto pipe = std::make_shared<RecordPipe>(std::move(punched->stream), what);
  live_.push_back(pipe);
  co_await authenticate(pipe, "direct", punched->peer, true, "quic");
}

awaitable<void> PipeRace::connect_relay(std::shared_ptr<PipeRace> /*keep_alive*/,
                                        proto::ServerUrl server, std::chrono::milliseconds delay) {
  if (delay.count() > 0) {
    asio::steady_timer t(ex_, delay);
    error_code ec;
    co_await t.async_wait(redirect(ec));
    if (over()) co_return attempt_failed("relay: not needed");
  }
  const std::string where = server.to_string();
  proto::RelayHello hello{secrets_.side, {}};
  if (secrets_.relay_grant.size() != hello.grant.size()) {
    co_return attempt_failed("relay at " + where + ": the server issued no usable grant");
  }
  std::copy(secrets_.relay_grant.begin(), secrets_.relay_grant.end(), hello.grant.begin());
  // Raw first (fastest); a WebSocket when the network breaks raw bytes (a filtering proxy).
  for (const auto transport : {RelayTransport::raw, RelayTransport::websocket}) {
    const std::string what =
        "relay at " + where + " over " + std::string(relay_transport_name(transport));
    const bool last = transport == RelayTransport::websocket;
    auto stream = co_await open_relay_transport(server, transport, kConnectTimeout);
    if (over()) co_return attempt_failed("relay: not needed");
    if (!stream) {
      if (last) co_return attempt_failed(what + ": " + stream.error().detail);
      tried_.push_back(what + ": " + stream.error().detail);
      continue;
    }
    auto pipe = std::make_shared<RecordPipe>(std::move(*stream), what);
    live_.push_back(pipe);
    auto paired = co_await relay_handshake(pipe->stream(), hello, where, RelayTimeouts{});
    if (paired) co_return co_await authenticate(pipe, "relay", where, true);
    pipe->close();
    std::erase(live_, pipe);
    // The relay answered (a refusal, a limit): another transport would hear the same.
    if (last || over() || paired.error().code != Errc::server_unreachable) {
      co_return attempt_failed(paired.error().detail);
    }
    tried_.push_back(what + ": " + paired.error().detail);
  }
}

awaitable<void> PipeRace::authenticate(std::shared_ptr<RecordPipe> pipe, std::string path,
                                       std::string peer, bool counted, std::string transport) {
  auto self = shared_from_this();
  const bool sender = secrets_.side == proto::Side::sender;
  const auto& send_key = sender ? secrets_.keys.stream_sender : secrets_.keys.stream_receiver;
  const auto& receive_key = sender ? secrets_.keys.stream_receiver : secrets_.keys.stream_sender;
  const auto failed = [&](const std::string& why) {
    pipe->close();
    if (counted)
      attempt_failed(pipe->description() + ": " + why);
    else
      tried_.push_back(pipe->description() + ": " + why);
  };
  auto started = co_await pipe->start(send_key, receive_key, kHelloTimeout);
  // Each hello is bound to this pipe's two stream headers: one recorded on another pipe (by the
  // relay, or anyone on the path) decrypts but authenticates nothing here.
  const auto binding = [&](proto::Side side) {
    return proto::hello_binding(secrets_.keys.hello, side,
                                sender ? pipe->sent_header() : pipe->received_header(),
                                sender ? pipe->received_header() : pipe->sent_header());
  };
  const auto peer_side = sender ? proto::Side::receiver : proto::Side::sender;
  const proto::PipeMessage hello_out =
      proto::msg::Hello{static_cast<std::uint8_t>(sender ? 0 : 1), binding(secrets_.side)};
  if (started) started = co_await pipe->send(hello_out);
  if (!started) co_return failed(started.error().detail);
  auto hello = co_await pipe->receive_message(kHelloTimeout);
  const auto* h = hello ? std::get_if<proto::msg::Hello>(&*hello) : nullptr;
  if (h == nullptr || h->side != (sender ? 1 : 0)) {
    co_return failed(hello ? "unexpected hello"
                           : "did not authenticate (" + hello.error().detail + ")");
  }
  const auto expected = binding(peer_side);
  if (!proto::equal_ct(h->binding, expected)) {
    co_return failed("its hello belongs to another connection (replayed)");
  }
  const bool upgrade = upgrading_;
  if (upgrade && path != "direct") co_return failed("not better than the relay");
  if (!sender) {
    // Claim the win before saying "select": a second pipe must never send one too, or the
    // sender could take a pipe we are about to close.
    if (over()) co_return failed("another path won");
    if (counted) --pending_;
    claim(pipe, path, peer, transport);
    const proto::PipeMessage select = proto::msg::Select{};
    if (auto selected = co_await pipe->send(select); !selected) {
      if (upgrade) {
        upgrade_.reset();
        co_return;
      }
      winner_ = ChosenPipe{};
      failure_ = proto::Error{Errc::no_path, pipe->description() + ": " + selected.error().detail};
    }
    wake_.cancel();
    co_return;
  } else {
    auto select = co_await pipe->receive_message();
    if (!select || !std::holds_alternative<proto::msg::Select>(*select) || over()) {
      co_return failed("not selected");
    }
  }
  if (counted) --pending_;
  claim(pipe, path, peer, transport);
  wake_.cancel();
}

void PipeRace::claim(const std::shared_ptr<RecordPipe>& pipe, std::string path, std::string peer,
                     std::string transport) {
  std::erase(live_, pipe);
  ChosenPipe chosen{pipe, std::move(path), std::move(peer), std::move(transport),
                    shared_from_this()};
  if (!upgrading_) {
    winner_ = std::move(chosen);
    return;
  }
  // After the relay: this direct pipe is where the transfer moves; nothing else is needed.
  chosen.race = nullptr;
  upgrade_ = std::move(chosen);
  upgrading_ = false;
  finish();
}

std::optional<ChosenPipe> PipeRace::take_upgrade() {
  auto out = std::move(upgrade_);
  upgrade_.reset();
  return out;
}

awaitable<proto::Result<ChosenPipe>> PipeRace::wait(std::chrono::milliseconds budget,
                                                    std::chrono::milliseconds upgrade_window) {
  if (!over() && (pending_ > 0 || !acceptors_.empty())) {
    wake_.expires_after(budget);
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
  }
  if (winner_.pipe && winner_.path == "relay" && pending_ > 0 && failure_ == std::nullopt &&
      upgrade_window.count() > 0) {
    // Direct attempts still running may yet open: the transfer starts on the relay and moves.
    upgrading_ = true;
    asio::co_spawn(
        ex_,
        [self = shared_from_this(), upgrade_window]() -> awaitable<void> {
          asio::steady_timer t(self->ex_, upgrade_window);
          error_code ec;
          co_await t.async_wait(redirect(ec));
          if (self->upgrading_) self->finish();
        },
        asio::detached);
    co_return std::move(winner_);
  }
  finish();
  if (winner_.pipe) co_return std::move(winner_);
  if (failure_) {
    if (failure_->code == Errc::no_path && !tried_.empty()) {  // the peer's list, then ours
      failure_->detail += "\nThis side tried:";
      for (const auto& t : tried_) failure_->detail += "\n  - " + t;
    }
    co_return std::unexpected(*failure_);
  }
  std::string detail = "no connection to the other side could be opened. Tried:";
  for (const auto& t : tried_) detail += "\n  - " + t;
  if (pending_ > 0)
    detail += "\n  - (still trying after " + std::to_string(budget.count() / 1000) + " s)";
  co_return proto::fail(Errc::no_path, detail);
}

void PipeRace::on_finish(std::function<void()> what) {
  if (finished_) return what();
  on_finish_ = std::move(what);
}

void PipeRace::finish() {
  finished_ = true;
  upgrading_ = false;
  if (auto f = std::exchange(on_finish_, nullptr)) f();
  for (auto& a : acceptors_) {
    error_code ec;
    a.close(ec);
  }
  for (auto& p : live_) p->close();
  live_.clear();
  if (udp_) udp_->stop();
}

}  // namespace ferry::session
