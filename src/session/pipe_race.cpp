#include "session/pipe_race.hpp"

#include <boost/asio/ip/v6_only.hpp>
#include <boost/asio/read.hpp>
#include <boost/asio/write.hpp>

#include "net/join.hpp"
#include "net/relay_client.hpp"
#include "net/striped_stream.hpp"
#include "net/tcp.hpp"
#include "net/webrtc.hpp"
#include "session/transfer.hpp"
#include "session/udp_paths.hpp"

namespace ferry::session {

using namespace net;
using namespace std::chrono_literals;
using proto::AttemptId;
using proto::Errc;
using proto::PathKind;
using proto::PipeTransport;
namespace stripe = proto::stripe;
using Verdict = proto::Race::Verdict;

namespace {
constexpr auto kConnectTimeout = 3s;
constexpr auto kSimultaneousOpenTimeout = 7s;  // covers SYN retransmits at 1 s and 3 s
using reuse_port = asio::detail::socket_option::boolean<SOL_SOCKET, SO_REUSEPORT>;
constexpr auto kHelloTimeout = 5s;
// Anyone who finds the listening port can connect; what has not said hello yet is bounded, in
// all and per address, so a flood of silent connections cannot exhaust this process.
constexpr std::size_t kMaxAcceptedPending = 40;
constexpr std::size_t kMaxAcceptedPendingPerAddress = 20;  // a wide TCP pipe is up to 8
// Wide TCP: a pipe dialled over a long round trip is one connection per 25 ms of it (the connect's
// own round trip), up to 8. One connection's kernel buffers (at most 4 MiB to send and 6 MiB to
// receive on a stock Linux, which an unprivileged process cannot raise) hold about one round trip
// at 100 Mbit/s and 200 ms, and a loss repaired over that round trip stalls it. In the lab, 100
// MiB over 100 Mbit/s with 200 ms and 1 % loss moved 5.4-5.6 MB/s on one connection, 7.9 and 9.5
// on four, 9.7 and 9.6 on eight (medians of 3, two sweeps; bench/wide_tcp.py); without loss 7.6
// on one, 10.6 on eight; at 80 ms and 1 % loss 10.8 on one and 11.2 on four.
constexpr auto kRoundTripPerConnection = 25ms;
// How much longer than the first connection's round trip its members may take at least.
constexpr auto kWidenSlack = 100ms;

std::string endpoint_text(const tcp::endpoint& ep) {
  const auto a = unmapped(ep.address());
  return (a.is_v6() ? "[" + a.to_string() + "]" : a.to_string()) + ":" + std::to_string(ep.port());
}
}  // namespace

event::Connected connected_event(const ChosenPipe& c, bool moved) {
  return {c.path, c.transport, c.peer, moved, c.pipe->stream().connections(), c.pipe->carrier()};
}

RaceStopper::~RaceStopper() {
  try {
    if (race) race->stop();
    if (udp) udp->stop();
  } catch (...) {  // a destructor cannot report; the sockets close with their owners
  }
}

PipeRace::PipeRace(const asio::any_io_executor& ex, const SessionSecrets& secrets,
                   std::chrono::milliseconds upgrade_window, std::uint16_t tcp_mss)
    : ex_(ex),
      secrets_(secrets),
      race_(secrets.side, upgrade_window),
      gather_wake_(ex),
      wake_(ex),
      started_(ex, asio::steady_timer::time_point::max()),
      decided_(ex, asio::steady_timer::time_point::max()),
      webrtc_offer_(ex, asio::steady_timer::time_point::max()) {
  tcp_mss_ = tcp_mss;
}

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
  // Accepted connections take the listening socket's limit.
  if (!ec) limit_segments(acc.native_handle(), tcp_mss_);
  if (!ec) acc.listen(asio::socket_base::max_listen_connections, ec);
  if (ec) return proto::fail(Errc::io_error, "cannot open a listening socket: " + ec.message());
  const std::uint16_t port = acc.local_endpoint().port();
  listen_port_ = port;
  const bool v6 = acc.local_endpoint().address().is_v6();
  acceptors_.push_back(std::move(acc));
  race_.set_listening(true);
  asio::co_spawn(ex_, accept_loop(shared_from_this(), acceptors_.size() - 1), asio::detached);
  if (acceptors_.size() == 1) asio::co_spawn(ex_, gather_loop(shared_from_this()), asio::detached);
  proto::Candidates out;
  bool observed_is_ours = observed.empty();
  for (const auto& addr : local_addresses()) {
    if (addr.is_v6() && !v6) continue;
    out.list.push_back({proto::Transport::tcp, addr.to_string(), port, proto::CandidateKind::host});
    observed_is_ours = observed_is_ours || addr.to_string() == observed;
  }
  if (!observed_is_ours) {
    out.list.push_back({proto::Transport::tcp, observed, port, proto::CandidateKind::srflx});
  }
  return out;
}

void PipeRace::start(const proto::PathPlan& plan, const proto::ServerUrl& server,
                     std::shared_ptr<UdpPaths> udp, Agreed agreed) {
  const auto now = std::chrono::steady_clock::now();
  cipher_ = agreed.cipher;
  race_.allow_transport_trial(agreed.transport_trial);
  // Only where both notes name relay-udp (peers of the version that says tcp_loss_based).
  race_.prefer_quic(agreed.prefer_quic && agreed.tagged_select);
  started_.cancel();
  server_ = server;
  relay_udp_ = std::move(agreed.relay_udp);
  relay_tcp_ = plan.relay_tcp;
  tagged_select_ = agreed.tagged_select;
  wide_tcp_ = agreed.wide_tcp;
  tcp_connections_ = agreed.tcp_connections;
  race_.set_budget(now, plan.budget);
  for (const auto& n : plan.notes) note(n);
  for (const auto& a : plan.tcp) connect_tcp_attempt(a);
  if (plan.udp && udp) {
    udp_ = udp;
    const AttemptId id = race_.begin(PathKind::direct, true, PipeTransport::quic);
    asio::co_spawn(ex_, connect_udp(shared_from_this(), std::move(udp), *plan.udp, plan.budget, id),
                   asio::detached);
  }
  if (plan.relay_after) race_.plan_relay(now + *plan.relay_after);
  if (agreed.webrtc) {
    webrtc_ = std::move(agreed.webrtc);
    const AttemptId id = race_.begin(PathKind::direct, true, PipeTransport::webrtc);
    webrtc_id_ = id;
    asio::co_spawn(ex_, connect_webrtc(shared_from_this(), id), asio::detached);
  }
}

void PipeRace::add_webrtc(const std::string& sdp) {
  if (!webrtc_id_ || !webrtc_sdp_.empty() || sdp.empty()) {
    note("WebRTC: an offer nobody asked for, left aside");
    return;
  }
  webrtc_sdp_ = sdp;
  webrtc_offer_.cancel();
}

awaitable<void> PipeRace::connect_webrtc(std::shared_ptr<PipeRace> /*keep_alive*/, AttemptId id) {
  const std::string what = "WebRTC data channel";
  // The answerer gathers while the offer is on its way: host candidates at once, the public one
  // within the STUN wait.
  webrtc_offer_.expires_after(Budgets::kWebRtcOffer);
  net::webrtc::Options options;
  // Our public address comes from the rendezvous server's STUN, at the address we reached it.
  if (secrets_.stun_port != 0) {
    tcp::resolver resolver(ex_);
    error_code ec;
    const auto found = co_await resolver.async_resolve(server_.host, "0", redirect(ec));
    for (const auto& r : found) {
      if (!r.endpoint().address().is_v4()) continue;
      options.stun_host = r.endpoint().address().to_string();
      options.stun_port = secrets_.stun_port;
      break;
    }
  }
  options.allow = [scope = webrtc_->scope](const proto::webrtc::IceCandidate& c, std::string* why) {
    return proto::webrtc::in_scope(c, scope, why);
  };
  auto made = net::webrtc::Answerer::create(ex_, std::move(options));
  if (!made) co_return failed(id, what, made.error().detail);
  auto answerer = *made;
  webrtc_answerer_ = answerer;  // finish() closes it
  if (auto g = answerer->gather(webrtc_->gather); !g) co_return failed(id, what, g.error().detail);

  if (webrtc_sdp_.empty()) {
    error_code ec;
    co_await webrtc_offer_.async_wait(redirect(ec));  // add_webrtc() cancels it
  }
  if (over()) co_return failed(id, what, "another path won");
  if (webrtc_sdp_.empty()) co_return failed(id, what, "the browser sent no offer in time");
  auto offer = proto::webrtc::parse_description(webrtc_sdp_);
  if (!offer) co_return failed(id, what, offer.error().detail);
  auto answer = co_await answerer->answer(*offer, webrtc_->gather);
  for (const auto& n : answerer->notes()) note(n);
  if (!answer) co_return failed(id, what, answer.error().detail);
  if (over()) co_return failed(id, what, "another path won");
  co_await webrtc_->send_answer(*answer);
  auto channel = co_await answerer->channel(Budgets::kWebRtcConnect);
  webrtc_answerer_.reset();  // the channel owns the connection from here
  if (!channel) co_return failed(id, what, channel.error().detail);
  if (over()) {
    (*channel)->close();
    co_return failed(id, what, "not needed");
  }
  auto pipe = std::make_shared<RecordPipe>(std::move(*channel), what);
  race_.connected(id);
  const std::string peer = "the browser";
  live_[id] = {pipe, peer, PipeTransport::webrtc, std::nullopt};
  co_await authenticate(pipe, id, peer, PipeTransport::webrtc);
}

void PipeRace::connect_tcp_attempt(const proto::TcpAttempt& attempt) {
  error_code ec;
  const auto addr = asio::ip::make_address(attempt.to.address, ec);
  if (ec) return;  // the codec admits IP literals only
  const tcp::endpoint ep(addr, attempt.to.port);
  const AttemptId id = race_.begin(PathKind::direct, true);
  if (attempt.method == proto::TcpMethod::simultaneous_open && listen_port_ != 0) {
    asio::co_spawn(ex_, connect_simultaneous(shared_from_this(), ep, id), asio::detached);
  } else {
    asio::co_spawn(ex_, connect_direct(shared_from_this(), ep, id), asio::detached);
  }
}

void PipeRace::add_later(const proto::LaterAttempts& more) {
  for (const auto& n : more.notes) note(n);
  if (over()) return;
  for (const auto& a : more.tcp) connect_tcp_attempt(a);
  if (udp_) udp_->add_targets(more.udp);
}

void PipeRace::note(std::string why) {
  race_.note({std::move(why), ""});
}

void PipeRace::fail(proto::Error error) {
  race_.peer_failed(std::move(error));
  wake_.cancel();
}

void PipeRace::failed(AttemptId id, std::string what, std::string why) {
  race_.failed(id, {std::move(what), std::move(why)});
  wake_.cancel();
}

awaitable<void> PipeRace::accept_loop(std::shared_ptr<PipeRace> self, std::size_t index) {
  for (;;) {
    error_code ec;
    tcp::socket s = co_await acceptors_[index].async_accept(redirect(ec));
    if (ec || over()) co_return;
    const auto from = unmapped(s.remote_endpoint(ec).address());
    if (ec) continue;
    if (arriving(std::nullopt) >= kMaxAcceptedPending ||
        arriving(from) >= kMaxAcceptedPendingPerAddress) {
      continue;  // closed
    }
    tune_for_bulk(s);
    opening_.push_back(from);
    asio::co_spawn(ex_, accepted(self, std::move(s), from), asio::detached);
  }
}

std::size_t PipeRace::arriving(const std::optional<asio::ip::address>& from) const {
  const auto counts = [&](const asio::ip::address& a) { return !from || *from == a; };
  std::size_t n = 0;
  for (const auto& [_, live] : live_)
    n += live.accepted_from && counts(*live.accepted_from) ? 1 : 0;
  for (const auto& a : opening_) n += counts(a) ? 1 : 0;
  return n + gathering_.held(from);
}

awaitable<void> PipeRace::accepted(std::shared_ptr<PipeRace> /*keep_alive*/, tcp::socket s,
                                   asio::ip::address from) {
  error_code ec;
  const std::string peer = endpoint_text(s.remote_endpoint(ec));
  // A direct path is connected from here on, and the relay waits for it a moment (Race): over a
  // long path a wide TCP pipe's first bytes come only after its further connections are up.
  const AttemptId id = race_.begin(PathKind::direct, false);
  race_.connected(id);
  const std::string what = "direct from " + peer;
  beast::tcp_stream stream(std::move(s));
  std::array<std::uint8_t, stripe::kPreambleBytes> first{};
  stream.expires_after(kHelloTimeout);
  co_await asio::async_read(stream, asio::buffer(first), redirect(ec));
  stream.expires_never();
  const bool member = !ec && stripe::is_preamble(first);
  if (member && !cipher_ && !over()) {
    // Whether wide TCP was agreed comes with the peer's note (start); until then the member
    // still counts as arriving from its address.
    co_await started_.async_wait(redirect(ec));
    ec.clear();
  }
  opening_.erase(std::find(opening_.begin(), opening_.end(), from));
  if (over()) co_return failed(id, what, "the race was over");
  if (ec) co_return failed(id, what, "did not authenticate (" + describe(ec) + ")");  // closed
  if (member) {
    // Nobody may open a group where the two sides did not agree on wide TCP.
    if (!wide_tcp_) co_return failed(id, what, "a wide TCP connection, which was not agreed");
    auto p = stripe::decode_preamble(first);
    if (!p) co_return failed(id, what, "a malformed wide TCP preamble");  // closed
    co_await join(std::move(stream), *p, from, peer, id);
    co_return;
  }
  // A pipe of its own: what was read is its stream header.
  auto pipe = std::make_shared<RecordPipe>(
      std::make_unique<SocketStream>(AnyStream(std::move(stream)), what,
                                     proto::Bytes(first.begin(), first.end())),
      what);
  live_[id] = {pipe, peer, PipeTransport::tcp, from};
  co_await authenticate(pipe, id, peer, PipeTransport::tcp);
}

awaitable<void> PipeRace::join(beast::tcp_stream member, stripe::Preamble p, asio::ip::address from,
                               std::string peer, AttemptId id) {
  using Verdict = decltype(gathering_)::Verdict;
  auto added =
      gathering_.add(p, from, member.release_socket(), id, std::chrono::steady_clock::now());
  switch (added.verdict) {
    case Verdict::refused:  // closed
      co_return failed(id, "direct from " + peer, "a wide TCP connection that fits no pipe");
    case Verdict::first:
      gather_wake_.cancel();  // gather_loop waits for its deadline too
      co_return;
    case Verdict::joined:
      race_.joined(id);  // the group's first member's attempt is the pipe's
      co_return;
    case Verdict::complete:
      break;
  }
  race_.joined(id);
  const std::string what =
      "direct from " + peer + " (" + std::to_string(added.members.size()) + " TCP connections)";
  auto pipe = std::make_shared<RecordPipe>(striped_stream(std::move(added.members), what), what);
  live_[added.tag] = {pipe, peer, PipeTransport::tcp, from};
  co_await authenticate(pipe, added.tag, peer, PipeTransport::tcp);
}

awaitable<void> PipeRace::gather_loop(std::shared_ptr<PipeRace> /*keep_alive*/) {
  while (!finished_) {
    for (const auto& d : gathering_.expire(std::chrono::steady_clock::now())) {
      failed(d.tag, "direct from " + unmapped(d.from).to_string() + " (wide TCP)",
             std::to_string(d.arrived) + " of " + std::to_string(d.count) +
                 " connections came within " + std::to_string(stripe::kGatherWait.count()) + " s");
    }
    gather_wake_.expires_at(
        gathering_.next_deadline().value_or(std::chrono::steady_clock::time_point::max()));
    error_code ec;
    co_await gather_wake_.async_wait(redirect(ec));
  }
}

std::size_t PipeRace::connections_for(std::chrono::steady_clock::duration round_trip) const {
  if (!wide_tcp_) return 1;
  if (tcp_connections_ != 0) return tcp_connections_;
  const auto n = static_cast<std::size_t>((round_trip + kRoundTripPerConnection - 1ms) /
                                          kRoundTripPerConnection);
  return std::clamp<std::size_t>(n, 1, stripe::kMaxMembers);
}

awaitable<std::vector<tcp::socket>> PipeRace::widen(
    beast::tcp_stream first, tcp::endpoint ep, std::size_t n,
    std::chrono::steady_clock::duration round_trip) {
  // The first connection's round trip again, and as much once more: a member whose SYN or SYN-ACK
  // was lost would come back only with the kernel's retransmit, a second or more later, so the pipe
  // starts on those that connected and the late ones are given up.
  using std::chrono::milliseconds;
  const auto rtt = std::chrono::ceil<milliseconds>(round_trip);
  const auto wait =
      std::min<milliseconds>(rtt + std::max<milliseconds>(rtt, kWidenSlack), kConnectTimeout);
  const Task<std::shared_ptr<tcp::socket>> dial =
      [ep, wait, mss = tcp_mss_]() -> awaitable<std::shared_ptr<tcp::socket>> {
    auto s = co_await connect_tcp(ep, wait, mss);
    if (!s) co_return nullptr;
    co_return std::make_shared<tcp::socket>(s->release_socket());
  };
  const auto more = co_await all_of(std::vector<Task<std::shared_ptr<tcp::socket>>>(n - 1, dial),
                                    std::chrono::steady_clock::now() + wait);
  std::vector<tcp::socket> members;
  members.push_back(first.release_socket());
  for (const auto& m : more) {
    if (m) members.push_back(std::move(*m));
  }
  if (members.size() == 1) co_return members;
  stripe::Preamble p;
  randombytes_buf(p.token.data(), p.token.size());
  p.count = static_cast<std::uint8_t>(members.size());
  for (std::size_t i = 0; i < members.size(); ++i) {
    p.index = static_cast<std::uint8_t>(i);
    const auto bytes = stripe::encode(p);
    error_code ec;
    co_await asio::async_write(members[i], asio::buffer(bytes), redirect(ec));
    if (ec) co_return std::vector<tcp::socket>{};
  }
  co_return members;
}

awaitable<void> PipeRace::connect_direct(std::shared_ptr<PipeRace> /*keep_alive*/, tcp::endpoint ep,
                                         AttemptId id) {
  const std::string peer = endpoint_text(ep);
  const auto dialled = std::chrono::steady_clock::now();
  auto stream = co_await connect_tcp(ep, kConnectTimeout, tcp_mss_);
  if (!stream) co_return failed(id, "direct TCP to " + peer, stream.error().detail);
  if (over()) co_return failed(id, "direct TCP to " + peer, "the race was over");
  race_.connected(id);  // widening is part of its set-up: the relay waits for it (Race)
  std::string what = "direct to " + peer;
  std::unique_ptr<ByteStream> bytes;
  const auto round_trip = std::chrono::steady_clock::now() - dialled;
  if (const auto n = connections_for(round_trip); n > 1) {
    auto members = co_await widen(std::move(*stream), ep, n, round_trip);
    if (members.empty()) co_return failed(id, what, "a wide TCP connection failed at once");
    if (over()) co_return failed(id, what, "the race was over");
    if (members.size() > 1) {
      what += " (" + std::to_string(members.size()) + " TCP connections)";
      bytes = striped_stream(std::move(members), what);
    } else {
      bytes = std::make_unique<SocketStream>(
          AnyStream(beast::tcp_stream(std::move(members.front()))), what);
    }
  } else {
    bytes = std::make_unique<SocketStream>(AnyStream(std::move(*stream)), what);
  }
  auto pipe = std::make_shared<RecordPipe>(std::move(bytes), what);
  live_[id] = {pipe, peer, PipeTransport::tcp, std::nullopt};
  co_await authenticate(pipe, id, peer, PipeTransport::tcp);
}

awaitable<void> PipeRace::connect_simultaneous(std::shared_ptr<PipeRace> /*keep_alive*/,
                                               tcp::endpoint ep, AttemptId id) {
  const std::string peer = endpoint_text(ep);
  const std::string what = "direct to " + peer + " (TCP simultaneous open)";
  tcp::socket s(ex_);
  error_code ec;
  s.open(ep.protocol(), ec);
  if (!ec) s.set_option(tcp::socket::reuse_address(true), ec);
  if (!ec) s.set_option(reuse_port(true), ec);
  if (!ec) s.bind(tcp::endpoint(ep.address().is_v4() ? tcp::v4() : tcp::v6(), listen_port_), ec);
  if (!ec) limit_segments(s.native_handle(), tcp_mss_);
  if (ec) co_return failed(id, what, describe(ec));
  beast::tcp_stream stream(std::move(s));
  stream.expires_after(kSimultaneousOpenTimeout);
  co_await stream.async_connect(ep, redirect(ec));
  if (ec) co_return failed(id, what, describe(ec));
  if (over()) co_return failed(id, what, "the race was over");
  stream.expires_never();
  tune_for_bulk(stream.socket());
  auto pipe = std::make_shared<RecordPipe>(
      std::make_unique<SocketStream>(AnyStream(std::move(stream)), what), what);
  race_.connected(id);
  live_[id] = {pipe, peer, PipeTransport::tcp, std::nullopt};
  co_await authenticate(pipe, id, peer, PipeTransport::tcp);
}

awaitable<void> PipeRace::connect_udp(std::shared_ptr<PipeRace> /*keep_alive*/,
                                      std::shared_ptr<UdpPaths> udp, proto::PunchPlan plan,
                                      std::chrono::milliseconds budget, AttemptId id) {
  auto punched = co_await udp->connect(secrets_, plan, budget);
  if (!punched) co_return failed(id, punched.error().detail, "");
  if (over()) co_return failed(id, "direct UDP", "another path won");
  const std::string what = "direct to " + punched->peer + " (QUIC over UDP)";
  auto pipe = std::make_shared<RecordPipe>(std::move(punched->stream), what);
  race_.connected(id);
  live_[id] = {pipe, punched->peer, PipeTransport::quic, std::nullopt};
  co_await authenticate(pipe, id, punched->peer, PipeTransport::quic);
}

awaitable<void> PipeRace::connect_relay(std::shared_ptr<PipeRace> /*keep_alive*/, AttemptId id) {
  const proto::ServerUrl relay = secrets_.relay.value_or(server_);
  const std::string where = relay.to_string();
  proto::RelayHello hello{secrets_.side, {}};
  if (secrets_.relay_grant.size() != hello.grant.size()) {
    co_return failed(id, "relay at " + where, "the server issued no usable grant");
  }
  std::copy(secrets_.relay_grant.begin(), secrets_.relay_grant.end(), hello.grant.begin());
  // Raw, WebSocket (or HTTPS requests, where a proxy removes the upgrade) raced.
  std::vector<std::string> notes;
  auto connected =
      co_await net::connect_relay_raced(relay, hello, kConnectTimeout, notes, relay_cancel_);
  relay_cancel_ = nullptr;
  for (auto& n : notes) note(std::move(n));
  if (over()) {
    if (connected) connected->stream->close();
    co_return failed(id, "relay", "not needed");
  }
  if (!connected) co_return failed(id, connected.error().detail, "");
  std::string what = "relay at ";
  what += where;
  what += " over ";
  what += connected->carried_by;
  auto pipe = std::make_shared<RecordPipe>(std::move(connected->stream), what);
  pipe->set_carrier(connected->carried_by);
  live_[id] = {pipe, where, PipeTransport::tcp, std::nullopt};
  race_.connected(id);
  co_return co_await authenticate(pipe, id, where, PipeTransport::tcp);
}

awaitable<void> PipeRace::connect_relay_udp(std::shared_ptr<PipeRace> /*keep_alive*/,
                                            AttemptId id) {
  // As long as the peer may take to come to the relay over TCP (the race's upgrade window).
  std::function<bool()> wanted = [this] { return !over(); };
  auto opened = co_await session::connect_relay_udp(*relay_udp_, Budgets::kUpgradeWindow, wanted);
  if (!opened) co_return failed(id, opened.error().detail, "");
  const std::string what = relay_udp_name(*relay_udp_);
  if (over()) {
    opened->stream->close();
    co_return failed(id, what, "not needed");
  }
  auto pipe = std::make_shared<RecordPipe>(std::move(opened->stream), what);
  race_.connected(id);
  live_[id] = {pipe, opened->peer, PipeTransport::quic, std::nullopt};
  co_await authenticate(pipe, id, opened->peer, PipeTransport::quic);
}

awaitable<void> PipeRace::authenticate(std::shared_ptr<RecordPipe> pipe, AttemptId id,
                                       std::string peer, PipeTransport transport) {
  auto self = shared_from_this();
  const bool sender = secrets_.side == proto::Side::sender;
  const auto& send_key = sender ? secrets_.keys.stream_sender : secrets_.keys.stream_receiver;
  const auto& receive_key = sender ? secrets_.keys.stream_receiver : secrets_.keys.stream_sender;
  const auto drop = [&] {
    pipe->close();
    live_.erase(id);
    wake_.cancel();
  };
  const auto lost = [&](const std::string& why) {
    drop();
    failed(id, pipe->description(), why);
  };
  if (!cipher_) {
    // Accepted before the peer's note arrived here: its records' cipher is not agreed yet.
    error_code ec;
    co_await started_.async_wait(redirect(ec));
    if (!cipher_ || over()) co_return lost("the race ended before the notes were exchanged");
  }
  const auto hello_from = std::chrono::steady_clock::now();
  auto started = co_await pipe->start(send_key, receive_key, *cipher_, kHelloTimeout);
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
  if (!started) co_return lost(started.error().detail);
  auto hello = co_await pipe->receive_message(kHelloTimeout);
  const auto* h = hello ? std::get_if<proto::msg::Hello>(&*hello) : nullptr;
  if (h == nullptr || h->side != (sender ? 1 : 0)) {
    co_return lost(hello ? "unexpected hello"
                         : "did not authenticate (" + hello.error().detail + ")");
  }
  const auto expected = binding(peer_side);
  if (!proto::equal_ct(h->binding, expected)) {
    co_return lost("its hello belongs to another connection (replayed)");
  }
  pipe->stream().authenticated();
  const auto now = std::chrono::steady_clock::now();
  auto verdict =
      race_.authenticated(id, pipe->description(), now,
                          std::chrono::duration_cast<std::chrono::milliseconds>(now - hello_from));
  if (verdict == Verdict::hold) {
    held_[id] = std::move(live_[id]);
    live_.erase(id);
    wake_.cancel();  // the race wakes when the hold ends
    co_return;
  }
  if (verdict == Verdict::wait) {
    auto select = co_await pipe->receive_message();
    const auto* chosen = select ? std::get_if<proto::msg::Select>(&*select) : nullptr;
    if (chosen == nullptr) co_return lost("not selected");
    const bool as_upgrade = chosen->upgrade;
    // Selected as a pipe to move to: its select may overtake the winner's (another pipe).
    while (as_upgrade && !race_.winner() && !over()) {
      error_code ec;
      co_await decided_.async_wait(redirect(ec));
    }
    verdict = race_.selected(id, pipe->description(), as_upgrade);
  }
  co_await conclude(std::move(pipe), id, std::move(peer), transport, verdict);
}

awaitable<void> PipeRace::conclude(std::shared_ptr<RecordPipe> pipe, AttemptId id, std::string peer,
                                   PipeTransport transport, Verdict verdict) {
  auto self = shared_from_this();
  if (verdict == Verdict::close) {
    pipe->close();
    live_.erase(id);
    wake_.cancel();
    co_return;
  }
  // The race took this pipe: as the winner, or (after the relay won) as where the transfer moves.
  live_.erase(id);
  const bool upgrade = race_.is_upgrade(id);
  // (The features are the notes' business: open_pipe fills them in.)
  ChosenPipe chosen{pipe,
                    race_.path_of(id),
                    std::move(peer),
                    transport,
                    upgrade ? nullptr : shared_from_this(),
                    proto::Features{}};
  if (upgrade) {
    upgrades_.push_back(std::move(chosen));
  } else {
    winner_ = std::move(chosen);
    decided_.cancel();
  }
  if (verdict == Verdict::select) {
    const proto::PipeMessage select = proto::msg::Select{upgrade && tagged_select_};
    if (auto selected = co_await pipe->send(select); !selected) {
      race_.select_failed(id, {pipe->description(), selected.error().detail});
      if (upgrade) {
        upgrades_.pop_back();
      } else {
        winner_.reset();
      }
    }
  }
  wake_.cancel();
  if (upgrade && over()) finish();  // nothing else is needed
}

void PipeRace::release_held() {
  for (const auto& [id, verdict] : race_.take_released()) {
    auto node = held_.extract(id);
    if (node.empty()) continue;
    Live held = std::move(node.mapped());
    ++concluding_;
    asio::co_spawn(
        ex_,
        [](std::shared_ptr<PipeRace> self, Live held, AttemptId id,
           Verdict verdict) -> awaitable<void> {
          co_await self->conclude(held.pipe, id, held.peer, held.transport, verdict);
          --self->concluding_;
          self->wake_.cancel();
        }(shared_from_this(), std::move(held), id, verdict),
        asio::detached);
  }
}

void PipeRace::step() {
  const auto now = std::chrono::steady_clock::now();
  if (race_.start_relay_due(now)) {
    if (relay_tcp_) {
      const AttemptId id = race_.begin(PathKind::relay, true);
      asio::co_spawn(ex_, connect_relay(shared_from_this(), id), asio::detached);
    } else {
      note("relay over TCP: left out (FERRY_NO_RELAY_TCP=1)");
    }
    if (relay_udp_) {
      const AttemptId udp_id = race_.begin(PathKind::relay, true, PipeTransport::quic);
      asio::co_spawn(ex_, connect_relay_udp(shared_from_this(), udp_id), asio::detached);
    }
  }
  race_.advance(now);
  release_held();
}

std::optional<ChosenPipe> PipeRace::take_upgrade() {
  if (upgrades_.empty()) return std::nullopt;
  ChosenPipe next = std::move(upgrades_.front());
  upgrades_.pop_front();
  return next;
}

awaitable<proto::Result<ChosenPipe>> PipeRace::wait() {
  auto self = shared_from_this();
  // A held pipe the race released is the winner once its select went out.
  for (step(); !race_.decided() || concluding_ > 0; step()) {
    wake_.expires_at(race_.next_wakeup());
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
  }
  if (winner_ && race_.phase() == proto::Race::Phase::upgrading) {
    asio::co_spawn(ex_, drive_upgrade(shared_from_this()), asio::detached);
    co_return *std::exchange(winner_, std::nullopt);  // it holds this race: no cycle
  }
  finish();
  if (winner_) co_return *std::exchange(winner_, std::nullopt);
  co_return std::unexpected(race_.failure());
}

awaitable<void> PipeRace::drive_upgrade(std::shared_ptr<PipeRace> /*keep_alive*/) {
  while (!finished_ && race_.phase() == proto::Race::Phase::upgrading) {
    wake_.expires_at(race_.next_wakeup());
    error_code ec;
    co_await wake_.async_wait(redirect(ec));
    step();
  }
  finish();
}

void PipeRace::on_finish(std::function<void()> what) {
  if (finished_) return what();
  on_finish_ = std::move(what);
}

void PipeRace::finish() {
  finished_ = true;
  race_.stop();
  if (auto cancel = std::exchange(relay_cancel_, nullptr)) cancel();
  if (auto f = std::exchange(on_finish_, nullptr)) f();
  for (auto& a : acceptors_) {
    error_code ec;
    a.close(ec);
  }
  for (auto& [id, live] : live_) live.pipe->close();
  live_.clear();
  gathering_.clear();
  gather_wake_.cancel();
  webrtc_offer_.cancel();
  if (auto a = std::exchange(webrtc_answerer_, nullptr)) a->close();
  release_held();  // the race ended: each held pipe is closed
  for (auto& [id, held] : held_) held.pipe->close();
  held_.clear();
  if (udp_) udp_->stop();
  wake_.cancel();
  started_.cancel();
  decided_.cancel();
}

}  // namespace ferry::session
