#include "cli/session_runner.hpp"

#include <boost/asio/signal_set.hpp>
#include <cstdlib>

#include "cli/exit_codes.hpp"
#include "net/port_mapping.hpp"

namespace ferry::cli {

namespace asio = boost::asio;
using proto::Errc;

namespace {
// What Ctrl-C leaves behind, said to the person who pressed it.
std::string interrupted_sentence(const session::Cancellation& cancellation, bool sender) {
  if (!cancellation.transfer_started()) {
    return sender ? "cancelled; nothing was sent" : "cancelled; nothing was received";
  }
  return sender ? "cancelled; the other side was told. What it already received is kept, and "
                  "sending the same files again resumes from there"
                : "cancelled; the sender was told. What already arrived is kept as *.ferry-part; "
                  "receive the same files again into this folder to resume";
}

bool env_flag(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr && std::string_view(v) == "1";
}
}  // namespace

int run_session(Console& console, session::Cancellation& cancellation, bool sender,
                net::awaitable<proto::Result<void>> task) {
  asio::io_context io;
  std::optional<proto::Result<void>> result;
  // After Ctrl-C the process ends once the peer was told and the session has wound down (the
  // peer closing after reading the abort ends it), or after the grace period.
  bool cancelling = false;
  bool cancel_done = false;
  bool session_done = false;
  asio::co_spawn(io, std::move(task), [&](const std::exception_ptr& ep, proto::Result<void> r) {
    if (ep) {
      try {
        std::rethrow_exception(ep);
      } catch (const std::exception& e) {
        r = proto::fail(Errc::internal, std::string("internal error: ") + e.what());
      }
    }
    if (!result) result = std::move(r);  // after Ctrl-C, "cancelled" is the outcome
    session_done = true;
    if (!cancelling || cancel_done) io.stop();
  });
  asio::signal_set signals(io, SIGINT, SIGTERM);
  asio::steady_timer grace(io);
  signals.async_wait([&](const boost::system::error_code& ec, int) {
    if (ec) return;
    cancelling = true;
    // A group send with nothing under way stops taking receivers: that is how --many ends.
    if (!cancellation.stop_cleanly()) {
      result = proto::fail(Errc::interrupted, interrupted_sentence(cancellation, sender));
    }
    signals.async_wait([&](const boost::system::error_code& again, int) {
      if (!again) io.stop();
    });
    grace.expires_after(std::chrono::milliseconds(1500));
    grace.async_wait([&](const boost::system::error_code& e) {
      if (!e) io.stop();
    });
    asio::co_spawn(io, cancellation.cancel(), [&](const std::exception_ptr&) {
      cancel_done = true;
      if (session_done) io.stop();
    });
  });
  io.run();
  net::join_port_mapping_workers();
  if (result && *result) return 0;
  const proto::Error err = result ? result->error() : proto::Error{Errc::internal, "stopped"};
  console.error(err, explain(err));
  return exit_status(err.code);
}

bool no_direct_tcp() {
  return env_flag("FERRY_NO_TCP");
}
bool no_udp() {
  return env_flag("FERRY_NO_UDP");
}
bool no_relay_tcp() {
  return env_flag("FERRY_NO_RELAY_TCP");
}
bool no_relay_udp() {
  return env_flag("FERRY_NO_RELAY_UDP");
}
std::uint8_t tcp_connections() {
  const char* v = std::getenv("FERRY_TCP_CONNECTIONS");
  if (v == nullptr || v[1] != '\0' || v[0] < '1' || v[0] > '8') return 0;
  return static_cast<std::uint8_t>(v[0] - '0');
}

}  // namespace ferry::cli
