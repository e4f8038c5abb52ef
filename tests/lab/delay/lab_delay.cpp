// ferry-lab-delay: holds every packet of one NFQUEUE queue for a fixed time, then lets it go.
//
// The lab's kernel has no sch_netem, so delay is done in user space: iptables-nft sends a
// router's forwarded packets to queue N (`-j NFQUEUE --queue-num N --queue-bypass`), this daemon
// notes each packet's id and arrival time, and accepts it once the delay has passed. Every packet
// of a queue gets the same delay, so release order is arrival order and a deque is the whole
// schedule. Only metadata is copied to user space (NFQNL_COPY_META, GSO packets unsplit), so
// the cost per packet is one netlink message each way.
//
// Usage: ferry-lab-delay QUEUE DELAY_MS
// Prints "ready" once the queue is bound; runs until SIGTERM/SIGINT; on exit prints how many
// packets it held and the largest backlog, so a run can tell a lab that dropped from one that
// delayed.
// libc's socket headers before the kernel's (linux/in.h would redefine struct in_addr).
#include <arpa/inet.h>
#include <poll.h>
#include <sys/socket.h>

#include <libnetfilter_queue/libnetfilter_queue.h>
#include <linux/netfilter.h>
#include <linux/netfilter/nfnetlink_queue.h>

#include <cerrno>
#include <charconv>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <deque>
#include <string_view>

namespace {

constexpr std::uint32_t kQueueMaxLen = 1U << 17;  // packets waiting in the kernel
constexpr int kReceiveBuffer = 64 << 20;          // bytes of netlink messages waiting for us

volatile std::sig_atomic_t g_stop = 0;

void on_signal(int) {
  g_stop = 1;
}

std::int64_t now_ns() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1'000'000'000 + ts.tv_nsec;
}

struct Held {
  std::uint32_t id;
  std::int64_t release_ns;
};

struct Daemon {
  std::int64_t delay_ns = 0;
  std::deque<Held> held;
  std::uint64_t packets = 0;
  std::size_t max_backlog = 0;
};

int on_packet(nfq_q_handle*, nfgenmsg*, nfq_data* data, void* opaque) {
  auto* daemon = static_cast<Daemon*>(opaque);
  const nfqnl_msg_packet_hdr* header = nfq_get_msg_packet_hdr(data);
  if (header == nullptr) return 0;
  daemon->held.push_back({ntohl(header->packet_id), now_ns() + daemon->delay_ns});
  ++daemon->packets;
  if (daemon->held.size() > daemon->max_backlog) daemon->max_backlog = daemon->held.size();
  return 0;
}

bool parse(std::string_view text, long& out) {
  const auto* end = text.data() + text.size();
  auto [ptr, ec] = std::from_chars(text.data(), end, out);
  return ec == std::errc() && ptr == end && out >= 0;
}

}  // namespace

int main(int argc, char** argv) {
  long queue = 0;
  long delay_ms = 0;
  if (argc != 3 || !parse(argv[1], queue) || queue > 65535 || !parse(argv[2], delay_ms) ||
      delay_ms > 10'000) {
    std::fprintf(stderr, "usage: ferry-lab-delay QUEUE(0-65535) DELAY_MS(0-10000)\n");
    return 2;
  }
  Daemon daemon;
  daemon.delay_ns = delay_ms * 1'000'000;

  nfq_handle* handle = nfq_open();
  if (handle == nullptr) {
    std::perror("nfq_open");
    return 1;
  }
  nfq_q_handle* qh =
      nfq_create_queue(handle, static_cast<std::uint16_t>(queue), on_packet, &daemon);
  if (qh == nullptr) {
    std::perror("nfq_create_queue");
    return 1;
  }
  if (nfq_set_mode(qh, NFQNL_COPY_META, 0) < 0) {
    std::perror("nfq_set_mode");
    return 1;
  }
  nfq_set_queue_maxlen(qh, kQueueMaxLen);
  nfq_set_queue_flags(qh, NFQA_CFG_F_GSO, NFQA_CFG_F_GSO);
  nfnl_rcvbufsiz(nfq_nfnlh(handle), kReceiveBuffer);
  const int fd = nfq_fd(handle);
  const int one = 1;
  setsockopt(fd, SOL_NETLINK, NETLINK_NO_ENOBUFS, &one, sizeof one);

  struct sigaction sa {};
  sa.sa_handler = on_signal;
  sigaction(SIGTERM, &sa, nullptr);
  sigaction(SIGINT, &sa, nullptr);
  std::printf("ready\n");
  std::fflush(stdout);

  alignas(8) static char buffer[1 << 16];
  while (g_stop == 0) {
    // Release what is due: ids are consecutive per queue and the deque is in arrival order, so
    // one batch verdict accepts every due packet at once.
    const std::int64_t now = now_ns();
    std::uint32_t last_due = 0;
    bool any_due = false;
    while (!daemon.held.empty() && daemon.held.front().release_ns <= now) {
      last_due = daemon.held.front().id;
      any_due = true;
      daemon.held.pop_front();
    }
    if (any_due) nfq_set_verdict_batch(qh, last_due, NF_ACCEPT);

    timespec wait{1, 0};
    if (!daemon.held.empty()) {
      const std::int64_t until = daemon.held.front().release_ns - now_ns();
      wait = until > 0 ? timespec{until / 1'000'000'000, until % 1'000'000'000} : timespec{0, 0};
    }
    pollfd pfd{fd, POLLIN, 0};
    const int ready = ppoll(&pfd, 1, &wait, nullptr);
    if (ready < 0 && errno != EINTR) {
      std::perror("ppoll");
      break;
    }
    if (ready <= 0) continue;
    for (;;) {
      const ssize_t n = recv(fd, buffer, sizeof buffer, MSG_DONTWAIT);
      if (n <= 0) break;
      nfq_handle_packet(handle, buffer, static_cast<int>(n));
    }
  }
  // Let whatever is still held go, so nothing waits on a queue nobody serves.
  if (!daemon.held.empty()) nfq_set_verdict_batch(qh, daemon.held.back().id, NF_ACCEPT);
  std::printf("held %llu packets, largest backlog %zu\n",
              static_cast<unsigned long long>(daemon.packets), daemon.max_backlog);
  nfq_destroy_queue(qh);
  nfq_close(handle);
  return 0;
}
