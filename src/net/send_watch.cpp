#include "net/send_watch.hpp"

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <optional>

namespace ferry::net {

struct SendWatchState {
  SendWatchState(const asio::any_io_executor& ex, int descriptor) : fd(descriptor), timer(ex) {
    struct stat st {};
    if (::fstat(fd, &st) == 0) inode = st.st_ino;
  }
  // Whether fd is still the socket watched (closed under us, by a stream's timeout, its number
  // may belong to another by now).
  bool same() const {
    struct stat st {};
    return fd >= 0 && ::fstat(fd, &st) == 0 && st.st_ino == inode;
  }
  int fd = -1;  // -1 once stopped
  ino_t inode = 0;
  int writes = 0;
  bool looking = false;
  asio::steady_timer timer;
  proto::SendStall stall;
};

namespace {

// The kernel's tcp_info goes on after glibc's (which ends at tcpi_total_retrans); the fields
// are only ever appended, so this layout holds on every kernel that fills it (4.1 and later).
struct TcpInfo {
  tcp_info base;
  std::uint64_t pacing_rate;
  std::uint64_t max_pacing_rate;
  std::uint64_t bytes_acked;
};

std::optional<proto::SendSample> sample(int fd) {
  TcpInfo info{};
  socklen_t len = sizeof info;
  if (::getsockopt(fd, IPPROTO_TCP, TCP_INFO, &info, &len) != 0 || len < sizeof info) {
    return std::nullopt;
  }
  return proto::SendSample{info.bytes_acked, info.base.tcpi_unacked, info.base.tcpi_retransmits};
}

// Looks every kLook while a write waits or the kernel holds bytes not yet acknowledged (the last
// record of a transfer, written at once, may be what the path does not carry).
void look(const std::shared_ptr<SendWatchState>& s) {
  s->looking = true;
  s->timer.expires_after(SendWatch::kLook);
  s->timer.async_wait([s](const error_code& ec) {
    s->looking = false;
    if (ec || !s->same()) return;
    const auto taken = sample(s->fd);
    if (!taken) return;
    switch (s->stall.observe(*taken, std::chrono::steady_clock::now())) {
      case proto::SendStall::Action::none:
        break;
      case proto::SendStall::Action::allow_fragments:
        if (!allow_fragments(s->fd)) s->stall.fragments_refused();
        break;
      case proto::SendStall::Action::give_up: {
        // The waiting write fails at once; the close that follows resets the connection (no
        // FIN queued behind what never got through), so the peer learns of it too.
        const linger reset{1, 0};
        ::setsockopt(s->fd, SOL_SOCKET, SO_LINGER, &reset, sizeof reset);
        ::shutdown(s->fd, SHUT_RDWR);
        return;
      }
    }
    if (s->writes > 0 || taken->unacked > 0) look(s);
  });
}

}  // namespace

bool allow_fragments(int fd) {
  // IPv6 routers never fragment. The kernel takes the IPv4 option on any IPv6 socket, so the
  // peer's address tells: an IPv4 connection on an IPv6 socket has a v4-mapped one.
  sockaddr_storage peer{};
  socklen_t len = sizeof peer;
  if (::getpeername(fd, reinterpret_cast<sockaddr*>(&peer), &len) != 0) return false;
  if (peer.ss_family == AF_INET6 &&
      !IN6_IS_ADDR_V4MAPPED(&reinterpret_cast<const sockaddr_in6*>(&peer)->sin6_addr)) {
    return false;
  }
  const int dont = IP_PMTUDISC_DONT;
  return ::setsockopt(fd, IPPROTO_IP, IP_MTU_DISCOVER, &dont, sizeof dont) == 0;
}

SendWatch::SendWatch(tcp::socket& s)
    : state_(std::make_shared<SendWatchState>(s.get_executor(), s.native_handle())) {}

SendWatch::Writing::Writing(std::shared_ptr<SendWatchState> s) : state_(std::move(s)) {
  if (!state_ || state_->fd < 0) return;
  ++state_->writes;
  if (!state_->looking) look(state_);
}

SendWatch::Writing::~Writing() {
  if (state_) --state_->writes;
}

SendWatch::Writing SendWatch::writing() {
  return Writing(state_);
}

void SendWatch::stop() noexcept {
  if (!state_) return;
  state_->fd = -1;  // a look still due sees this and ends
  try {
    state_->timer.cancel();
  } catch (...) {  // the look ends at its time instead
  }
}

int SendWatch::fd() const {
  return state_ ? state_->fd : -1;
}

bool SendWatch::given_up() const {
  return state_ && state_->stall.given_up();
}

proto::Error SendWatch::given_up_error(const std::string& where) const {
  return proto::stall_error("the connection (" + where + ")", state_ && state_->stall.black_hole());
}

}  // namespace ferry::net
