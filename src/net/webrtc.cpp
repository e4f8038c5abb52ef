#include "net/webrtc.hpp"

#include "proto/names.hpp"

#include <arpa/inet.h>
#include <ifaddrs.h>
#include <netinet/in.h>

#include <openssl/bio.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#include <algorithm>
#include <atomic>
#include <deque>
#include <map>
#include <mutex>
#include <thread>

#include <nice/agent.h>
#include <usrsctp.h>

namespace ferry::net::webrtc {

using proto::Errc;
using namespace std::chrono_literals;

namespace {

constexpr std::uint16_t kSctpPort = 5000;
constexpr std::uint32_t kPpidBinary = 53;
constexpr std::uint32_t kPpidString = 51;
// What this side accepts in one message, and says in its answer; a browser's own limit is in its
// offer (Chromium: 256 KiB).
constexpr std::uint32_t kMaxMessage = 256 * 1024;
// What one message carries at most from this side: small enough that the SCTP send buffer takes
// several, large enough that each costs little.
constexpr std::size_t kSendMessage = std::size_t{64} * 1024;
constexpr int kSctpBuffer = 4 * 1024 * 1024;
// DTLS records stay within the smallest path MTU a browser assumes (1200 bytes less headers).
constexpr long kDtlsMtu = 1200;

std::string openssl_error() {
  const unsigned long e = ERR_get_error();
  if (e == 0) return "unknown error";
  char b[256];
  ERR_error_string_n(e, b, sizeof b);
  return b;
}

proto::Error failed(std::string what) {
  return {Errc::no_path, "WebRTC: " + std::move(what)};
}

}  // namespace

// Shared by the executor, libnice's GLib thread and usrsctp's threads. `m` guards the DTLS
// state and every flag the other threads set; they only post to the executor to wake it.
struct Answerer::Core : std::enable_shared_from_this<Core> {
  explicit Core(const asio::any_io_executor& e, Options o) : ex(e), options(std::move(o)) {}
  ~Core();

  asio::any_io_executor ex;
  Options options;

  GMainContext* ctx = nullptr;
  GMainLoop* loop = nullptr;
  std::thread thread;
  NiceAgent* agent = nullptr;
  guint stream = 0;
  GSource* dtls_timer = nullptr;

  std::mutex m;
  SSL_CTX* ssl_ctx = nullptr;
  SSL* ssl = nullptr;
  BIO* in = nullptr;
  EVP_PKEY* key = nullptr;
  X509* cert = nullptr;
  std::array<std::uint8_t, 32> local_fingerprint{};
  std::array<std::uint8_t, 32> remote_fingerprint{};
  bool dtls_client = true;
  std::vector<proto::Bytes> outgoing;  // DTLS datagrams made under m, sent after it
  bool ice_connected = false;
  bool dtls_started = false;
  bool dtls_done = false;
  bool gathered = false;
  bool sctp_started = false;
  std::optional<proto::Error> failure;
  bool peer_ended = false;  // DTLS close_notify

  // Executor only.
  bool gathering = false;
  std::chrono::steady_clock::time_point gather_deadline;
  struct socket* sock = nullptr;
  std::uint16_t remote_sctp_port = kSctpPort;
  std::size_t message_bytes = kSendMessage;
  bool sctp_up = false;
  bool eof = false;
  bool closed = false;
  bool taken = false;
  std::vector<std::string> notes;
  std::vector<asio::steady_timer*> waiters;
  std::atomic<bool> poke_queued{false};  // any thread
  proto::Bytes pending;                  // channel bytes read, not yet taken
  std::size_t pending_at = 0;

  // From any thread: wakes whoever waits on the executor. Pokes that come while one is on its way
  // (a burst of packets from the GLib thread or usrsctp) ride on it: one post, not one per packet.
  // (The thread hand-off itself stays: context switches are about a quarter of the receiver's CPU
  // at 15 MB/s from Chromium on loopback.)
  void poke() {
    if (poke_queued.exchange(true)) return;
    asio::post(ex, [w = weak_from_this()] {
      if (auto c = w.lock()) {
        c->poke_queued = false;
        c->notify();
      }
    });
  }
  void notify() {
    for (auto* t : waiters) t->cancel();
  }
  // Waits until poked or deadline; false at the deadline.
  awaitable<bool> wait_until(std::chrono::steady_clock::time_point deadline) {
    asio::steady_timer t(ex, deadline);
    waiters.push_back(&t);
    error_code ec;
    co_await t.async_wait(redirect(ec));
    std::erase(waiters, &t);
    co_return ec == asio::error::operation_aborted;
  }

  proto::Result<void> init_dtls();
  void flush();  // sends the datagrams made under m (call without m)
  void on_datagram(const char* data, std::size_t size);  // GLib thread
  void on_ice_state(guint state);                        // GLib thread
  void start_dtls();                                     // GLib thread
  void sctp_out(const void* data, std::size_t size);     // any thread
  void start_sctp();                                     // GLib thread
  // Reads what usrsctp holds (executor): notifications, and data into pending.
  void pump();
  void close();
};

namespace {

// usrsctp's callbacks name a Core by its address: looked up here, so a callback that comes
// after the Core is gone finds nothing.
std::mutex registry_mutex;
std::map<void*, std::weak_ptr<Answerer::Core>>& registry() {
  static std::map<void*, std::weak_ptr<Answerer::Core>> r;
  return r;
}
std::shared_ptr<Answerer::Core> lookup(void* addr) {
  const std::lock_guard lock(registry_mutex);
  const auto it = registry().find(addr);
  return it == registry().end() ? nullptr : it->second.lock();
}

int conn_output(void* addr, void* buffer, std::size_t length, std::uint8_t /*tos*/,
                std::uint8_t /*set_df*/) {
  auto core = lookup(addr);
  if (!core) return -1;
  core->sctp_out(buffer, length);
  return 0;
}

void upcall(struct socket* /*sock*/, void* arg, int /*flags*/) {
  if (auto core = lookup(arg)) core->poke();
}

void init_usrsctp() {
  static std::once_flag once;
  std::call_once(once, [] {
    usrsctp_init(0, &conn_output, nullptr);
    usrsctp_sysctl_set_sctp_ecn_enable(0);
    usrsctp_sysctl_set_sctp_default_cc_module(SCTP_CC_HTCP);
    usrsctp_sysctl_set_sctp_sendspace(kSctpBuffer);
    usrsctp_sysctl_set_sctp_recvspace(kSctpBuffer);
    usrsctp_sysctl_set_sctp_delayed_sack_time_default(20);
    usrsctp_sysctl_set_sctp_rto_initial_default(1000);
    usrsctp_sysctl_set_sctp_init_rto_max_default(10000);
    usrsctp_sysctl_set_sctp_max_burst_default(10);
  });
}

// The DTLS records go out as datagrams through the ICE agent: a BIO whose every write is one.
int bio_write(BIO* b, const char* data, int size) {
  auto* core = static_cast<Answerer::Core*>(BIO_get_data(b));
  if (size > 0) {
    core->outgoing.emplace_back(reinterpret_cast<const std::uint8_t*>(data),
                                reinterpret_cast<const std::uint8_t*>(data) + size);
  }
  return size;
}
long bio_ctrl(BIO* /*b*/, int cmd, long /*num*/, void* /*ptr*/) {
  switch (cmd) {
    case BIO_CTRL_FLUSH:
      return 1;
    case BIO_CTRL_DGRAM_QUERY_MTU:
      return kDtlsMtu;
    default:
      return 0;
  }
}
int bio_create(BIO* b) {
  BIO_set_init(b, 1);
  return 1;
}
BIO_METHOD* datagram_bio() {
  static BIO_METHOD* method = [] {
    BIO_METHOD* b = BIO_meth_new(BIO_TYPE_BIO, "ferry ICE datagrams");
    BIO_meth_set_write(b, bio_write);
    BIO_meth_set_ctrl(b, bio_ctrl);
    BIO_meth_set_create(b, bio_create);
    return b;
  }();
  return method;
}

void on_gathering_done(NiceAgent* /*agent*/, guint /*stream*/, gpointer data) {
  auto* core = static_cast<Answerer::Core*>(data);
  {
    const std::lock_guard lock(core->m);
    core->gathered = true;
  }
  core->poke();
}
void on_state_changed(NiceAgent* /*agent*/, guint /*stream*/, guint /*component*/, guint state,
                      gpointer data) {
  static_cast<Answerer::Core*>(data)->on_ice_state(state);
}
void on_receive(NiceAgent* /*agent*/, guint /*stream*/, guint /*component*/, guint size,
                gchar* buffer, gpointer data) {
  static_cast<Answerer::Core*>(data)->on_datagram(buffer, size);
}
gboolean on_dtls_timer(gpointer data) {
  auto* core = static_cast<Answerer::Core*>(data);
  {
    const std::lock_guard lock(core->m);
    if (core->dtls_started && !core->dtls_done && core->ssl) DTLSv1_handle_timeout(core->ssl);
  }
  core->flush();
  return G_SOURCE_CONTINUE;
}

// This machine's addresses for host candidates: every interface that is up, not link-local;
// loopback too when asked (a server on this machine: the browser is here as well).
std::vector<std::string> local_addresses(bool loopback) {
  std::vector<std::string> out;
  ifaddrs* list = nullptr;
  if (getifaddrs(&list) != 0) return out;
  for (auto* i = list; i; i = i->ifa_next) {
    if (!i->ifa_addr || !(i->ifa_flags & IFF_UP)) continue;
    const bool lo = (i->ifa_flags & IFF_LOOPBACK) != 0;
    if (lo && !loopback) continue;
    char text[INET6_ADDRSTRLEN] = {};
    if (i->ifa_addr->sa_family == AF_INET) {
      inet_ntop(AF_INET, &reinterpret_cast<sockaddr_in*>(i->ifa_addr)->sin_addr, text, sizeof text);
    } else if (i->ifa_addr->sa_family == AF_INET6) {
      const auto* a = &reinterpret_cast<sockaddr_in6*>(i->ifa_addr)->sin6_addr;
      if (IN6_IS_ADDR_LINKLOCAL(a)) continue;
      inet_ntop(AF_INET6, a, text, sizeof text);
    } else {
      continue;
    }
    out.emplace_back(text);
  }
  freeifaddrs(list);
  return out;
}

}  // namespace

Answerer::Core::~Core() {
  if (ssl) SSL_free(ssl);  // frees both BIOs
  if (ssl_ctx) SSL_CTX_free(ssl_ctx);
  if (cert) X509_free(cert);
  if (key) EVP_PKEY_free(key);
}

proto::Result<void> Answerer::Core::init_dtls() {
  key = EVP_EC_gen("P-256");
  cert = X509_new();
  if (!key || !cert) return std::unexpected(failed("no certificate: " + openssl_error()));
  std::array<std::uint8_t, 8> serial{};
  RAND_bytes(serial.data(), serial.size());
  BIGNUM* bn = BN_bin2bn(serial.data(), serial.size(), nullptr);
  BN_to_ASN1_INTEGER(bn, X509_get_serialNumber(cert));
  BN_free(bn);
  X509_set_version(cert, 2);
  X509_gmtime_adj(X509_getm_notBefore(cert), -3600);
  X509_gmtime_adj(X509_getm_notAfter(cert), 30L * 24 * 3600);
  X509_NAME* name = X509_get_subject_name(cert);
  X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
                             reinterpret_cast<const unsigned char*>("ferry"), -1, -1, 0);
  X509_set_issuer_name(cert, name);
  X509_set_pubkey(cert, key);
  if (X509_sign(cert, key, EVP_sha256()) == 0) {
    return std::unexpected(failed("no certificate: " + openssl_error()));
  }
  unsigned int n = 0;
  X509_digest(cert, EVP_sha256(), local_fingerprint.data(), &n);

  ssl_ctx = SSL_CTX_new(DTLS_method());
  if (!ssl_ctx) return std::unexpected(failed("no DTLS: " + openssl_error()));
  SSL_CTX_set_min_proto_version(ssl_ctx, DTLS1_2_VERSION);
  SSL_CTX_use_certificate(ssl_ctx, cert);
  SSL_CTX_use_PrivateKey(ssl_ctx, key);
  // Any certificate passes here: the one presented is checked against the pinned fingerprint
  // once the handshake is done.
  SSL_CTX_set_verify(ssl_ctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT,
                     [](int, X509_STORE_CTX*) { return 1; });
  SSL_CTX_set_read_ahead(ssl_ctx, 1);
  ssl = SSL_new(ssl_ctx);
  in = BIO_new(BIO_s_mem());
  BIO_set_mem_eof_return(in, -1);
  BIO* out = BIO_new(datagram_bio());
  BIO_set_data(out, this);
  SSL_set_bio(ssl, in, out);
  SSL_set_options(ssl, SSL_OP_NO_QUERY_MTU);
  SSL_set_mtu(ssl, kDtlsMtu);
  return {};
}

void Answerer::Core::flush() {
  std::vector<proto::Bytes> batch;
  {
    const std::lock_guard lock(m);
    batch.swap(outgoing);
  }
  for (const auto& d : batch) {
    nice_agent_send(agent, stream, 1, static_cast<guint>(d.size()),
                    reinterpret_cast<const gchar*>(d.data()));
  }
}

void Answerer::Core::on_ice_state(guint state) {
  if (state == NICE_COMPONENT_STATE_CONNECTED || state == NICE_COMPONENT_STATE_READY) {
    {
      const std::lock_guard lock(m);
      ice_connected = true;
    }
    start_dtls();
  } else if (state == NICE_COMPONENT_STATE_FAILED) {
    {
      const std::lock_guard lock(m);
      if (!failure) failure = failed("no connectivity check between the browser and us succeeded");
    }
    poke();
  }
}

void Answerer::Core::start_dtls() {
  {
    const std::lock_guard lock(m);
    if (dtls_started) return;
    dtls_started = true;
    if (dtls_client) {
      SSL_set_connect_state(ssl);
      SSL_do_handshake(ssl);
    } else {
      SSL_set_accept_state(ssl);
    }
  }
  flush();
}

void Answerer::Core::on_datagram(const char* data, std::size_t size) {
  // DTLS records start with a content type of 20 to 63 (RFC 7983); anything else is not ours.
  if (size == 0 || static_cast<std::uint8_t>(data[0]) < 20 ||
      static_cast<std::uint8_t>(data[0]) > 63) {
    return;
  }
  std::vector<proto::Bytes> plain;
  bool now_done = false;
  {
    const std::lock_guard lock(m);
    if (failure || !ssl) return;
    if (!dtls_started) {  // the browser's first record came before our ICE state said connected
      dtls_started = true;
      if (dtls_client) {
        SSL_set_connect_state(ssl);
      } else {
        SSL_set_accept_state(ssl);
      }
    }
    BIO_write(in, data, static_cast<int>(size));
    if (!dtls_done) {
      const int r = SSL_do_handshake(ssl);
      if (r == 1) {
        X509* peer = SSL_get1_peer_certificate(ssl);
        std::array<std::uint8_t, 32> seen{};
        unsigned int n = 0;
        if (peer) X509_digest(peer, EVP_sha256(), seen.data(), &n);
        X509_free(peer);
        if (!peer || seen != remote_fingerprint) {
          failure = failed(
              "the browser's DTLS certificate is not the one its sealed offer named: someone "
              "between us answered instead");
        } else {
          dtls_done = true;
          now_done = true;
        }
      } else {
        const int e = SSL_get_error(ssl, r);
        if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
          failure = failed("the DTLS handshake failed: " + openssl_error());
        }
      }
    }
    if (dtls_done) {
      std::array<std::uint8_t, 65536> buffer{};
      for (;;) {
        const int n = SSL_read(ssl, buffer.data(), static_cast<int>(buffer.size()));
        if (n > 0) {
          plain.emplace_back(buffer.begin(), buffer.begin() + n);
          continue;
        }
        if (SSL_get_error(ssl, n) == SSL_ERROR_ZERO_RETURN) peer_ended = true;
        break;
      }
    }
  }
  flush();
  if (now_done) start_sctp();
  for (const auto& p : plain) usrsctp_conninput(this, p.data(), p.size(), 0);
  if (now_done || peer_ended || failure || !plain.empty()) poke();
}

void Answerer::Core::sctp_out(const void* data, std::size_t size) {
  {
    const std::lock_guard lock(m);
    if (!dtls_done || !ssl) return;
    SSL_write(ssl, data, static_cast<int>(size));
  }
  flush();
}

void Answerer::Core::start_sctp() {
  // Runs on the GLib thread, once: the socket is the executor's from then on (sctp_started).
  struct socket* s =
      usrsctp_socket(AF_CONN, SOCK_STREAM, IPPROTO_SCTP, nullptr, nullptr, 0, nullptr);
  if (!s) {
    const std::lock_guard lock(m);
    failure = failed("no SCTP socket");
    return;
  }
  usrsctp_set_upcall(s, upcall, this);
  usrsctp_set_non_blocking(s, 1);
  const linger no_linger{1, 0};
  usrsctp_setsockopt(s, SOL_SOCKET, SO_LINGER, &no_linger, sizeof no_linger);
  const int on = 1;
  usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_RECVRCVINFO, &on, sizeof on);
  usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_NODELAY, &on, sizeof on);
  sctp_assoc_value reset{};
  reset.assoc_id = SCTP_ALL_ASSOC;
  reset.assoc_value = SCTP_ENABLE_RESET_STREAM_REQ;
  usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_ENABLE_STREAM_RESET, &reset, sizeof reset);
  for (const std::uint16_t type : {SCTP_ASSOC_CHANGE, SCTP_STREAM_RESET_EVENT}) {
    sctp_event ev{};
    ev.se_assoc_id = SCTP_ALL_ASSOC;
    ev.se_on = 1;
    ev.se_type = type;
    usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_EVENT, &ev, sizeof ev);
  }
  sctp_initmsg init{};
  init.sinit_num_ostreams = 16;
  init.sinit_max_instreams = 16;
  usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_INITMSG, &init, sizeof init);
  sctp_paddrparams params{};
  params.spp_flags = SPP_PMTUD_DISABLE;
  params.spp_pathmtu = kDtlsMtu - 40;  // DTLS's own header and tag
  usrsctp_setsockopt(s, IPPROTO_SCTP, SCTP_PEER_ADDR_PARAMS, &params, sizeof params);
  usrsctp_setsockopt(s, SOL_SOCKET, SO_SNDBUF, &kSctpBuffer, sizeof kSctpBuffer);
  usrsctp_setsockopt(s, SOL_SOCKET, SO_RCVBUF, &kSctpBuffer, sizeof kSctpBuffer);
  sockaddr_conn local{};
  local.sconn_family = AF_CONN;
  local.sconn_port = htons(kSctpPort);
  local.sconn_addr = this;
  sockaddr_conn remote = local;
  remote.sconn_port = htons(remote_sctp_port);
  if (usrsctp_bind(s, reinterpret_cast<sockaddr*>(&local), sizeof local) != 0 ||
      (usrsctp_connect(s, reinterpret_cast<sockaddr*>(&remote), sizeof remote) != 0 &&
       errno != EINPROGRESS)) {
    usrsctp_close(s);
    const std::lock_guard lock(m);
    failure = failed("SCTP did not start");
    return;
  }
  {
    const std::lock_guard lock(m);
    sock = s;
    sctp_started = true;
  }
  poke();
}

void Answerer::Core::pump() {
  if (!sock || eof) return;
  std::array<std::uint8_t, 65536> buffer{};
  // Only while the stream's reader has nothing: what usrsctp holds is bounded by its window.
  while (pending_at == pending.size() || !sctp_up) {
    sctp_rcvinfo info{};
    socklen_t info_len = sizeof info;
    unsigned int info_type = 0;
    int flags = 0;
    sockaddr_conn from{};
    socklen_t from_len = sizeof from;
    const ssize_t n =
        usrsctp_recvv(sock, buffer.data(), buffer.size(), reinterpret_cast<sockaddr*>(&from),
                      &from_len, &info, &info_len, &info_type, &flags);
    if (n < 0) {
      if (errno != EWOULDBLOCK && errno != EAGAIN) eof = true;
      return;
    }
    if (n == 0) {
      eof = true;
      return;
    }
    if (flags & MSG_NOTIFICATION) {
      const auto* note = reinterpret_cast<const sctp_notification*>(buffer.data());
      if (note->sn_header.sn_type == SCTP_ASSOC_CHANGE) {
        const auto state = note->sn_assoc_change.sac_state;
        if (state == SCTP_COMM_UP) sctp_up = true;
        if (state == SCTP_COMM_LOST || state == SCTP_SHUTDOWN_COMP ||
            state == SCTP_CANT_STR_ASSOC) {
          eof = true;
        }
      } else if (note->sn_header.sn_type == SCTP_STREAM_RESET_EVENT &&
                 (note->sn_strreset_event.strreset_flags & SCTP_STREAM_RESET_INCOMING_SSN)) {
        eof = true;  // the browser closed the channel
      }
      if (eof) return;
      continue;
    }
    const std::uint32_t ppid = info_type == SCTP_RECVV_RCVINFO ? ntohl(info.rcv_ppid) : kPpidBinary;
    if (ppid != kPpidBinary && ppid != kPpidString) continue;  // empty messages (56, 57)
    if (pending_at == pending.size()) {
      pending.clear();
      pending_at = 0;
    }
    pending.insert(pending.end(), buffer.begin(), buffer.begin() + n);
  }
}

void Answerer::Core::close() {
  if (closed) return;
  closed = true;
  if (sock) {
    usrsctp_set_upcall(sock, nullptr, nullptr);
    usrsctp_close(sock);  // an ABORT, through DTLS
    sock = nullptr;
  }
  usrsctp_deregister_address(this);
  {
    const std::lock_guard lock(registry_mutex);
    registry().erase(this);
  }
  {
    const std::lock_guard lock(m);
    if (ssl && dtls_done) SSL_shutdown(ssl);  // close_notify: the browser's channel closes
  }
  if (agent) flush();
  if (loop) g_main_loop_quit(loop);
  if (thread.joinable()) thread.join();
  if (dtls_timer) {
    g_source_destroy(dtls_timer);
    g_source_unref(dtls_timer);
    dtls_timer = nullptr;
  }
  if (agent) {
    g_object_unref(agent);
    agent = nullptr;
  }
  if (loop) {
    g_main_loop_unref(loop);
    loop = nullptr;
  }
  if (ctx) {
    g_main_context_unref(ctx);
    ctx = nullptr;
  }
  notify();
}

namespace {

// The channel's bytes, for the record layer.
class ChannelStream : public ByteStream {
 public:
  explicit ChannelStream(std::shared_ptr<Answerer::Core> core) : core_(std::move(core)) {}
  ~ChannelStream() override {
    try {
      core_->close();
    } catch (...) {  // a destructor cannot report; the sockets close with the process
    }
  }

  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    auto& c = *core_;
    for (;;) {
      if (c.closed) {
        ec = asio::error::operation_aborted;
        co_return 0;
      }
      if (c.pending_at == c.pending.size()) c.pump();
      if (c.pending_at < c.pending.size()) {
        const std::size_t n = std::min(b.size(), c.pending.size() - c.pending_at);
        std::memcpy(b.data(), c.pending.data() + c.pending_at, n);
        c.pending_at += n;
        co_return n;
      }
      if (c.eof || peer_gone()) {
        ec = asio::error::eof;
        co_return 0;
      }
      if (!co_await c.wait_until(deadline_)) {
        ec = asio::error::timed_out;
        co_return 0;
      }
    }
  }

  awaitable<void> write(asio::const_buffer b, error_code& ec) override {
    auto& c = *core_;
    const auto* p = static_cast<const std::uint8_t*>(b.data());
    std::size_t left = b.size();
    while (left > 0) {
      if (c.closed || !c.sock) {
        ec = asio::error::operation_aborted;
        co_return;
      }
      const std::size_t n = std::min(left, c.message_bytes);
      sctp_sendv_spa spa{};
      spa.sendv_flags = SCTP_SEND_SNDINFO_VALID;
      spa.sendv_sndinfo.snd_sid = 0;
      spa.sendv_sndinfo.snd_ppid = htonl(kPpidBinary);
      const ssize_t r =
          usrsctp_sendv(c.sock, p, n, nullptr, 0, &spa, sizeof spa, SCTP_SENDV_SPA, 0);
      if (r == static_cast<ssize_t>(n)) {
        p += n;
        left -= n;
        continue;
      }
      if (r < 0 && (errno == EWOULDBLOCK || errno == EAGAIN)) {
        if (!co_await c.wait_until(deadline_)) {
          ec = asio::error::timed_out;
          co_return;
        }
        continue;
      }
      ec = asio::error::connection_reset;
      co_return;
    }
  }

  void expires_after(std::chrono::steady_clock::duration d) override {
    deadline_ = std::chrono::steady_clock::now() + d;
  }
  void expires_never() override { deadline_ = std::chrono::steady_clock::time_point::max(); }

  awaitable<void> acknowledged(std::chrono::milliseconds timeout) override {
    const auto until = std::chrono::steady_clock::now() + timeout;
    auto& c = *core_;
    asio::steady_timer t(c.ex);
    while (!c.closed && c.sock && std::chrono::steady_clock::now() < until) {
      sctp_status status{};
      socklen_t len = sizeof status;
      if (usrsctp_getsockopt(c.sock, IPPROTO_SCTP, SCTP_STATUS, &status, &len) != 0) break;
      if (status.sstat_unackdata == 0 && status.sstat_penddata == 0) break;
      t.expires_after(10ms);
      error_code ec;
      co_await t.async_wait(redirect(ec));
    }
  }

  awaitable<void> close_gracefully(std::chrono::milliseconds timeout) override {
    co_await acknowledged(timeout);
    core_->close();
  }
  void close() override { core_->close(); }
  // A record is sealed and opened as one piece of work on the executor that also runs the
  // channel's reads: smaller pieces keep it responsive.
  std::size_t record_bytes() const override { return std::size_t{256} * 1024; }

 private:
  bool peer_gone() {
    const std::lock_guard lock(core_->m);
    return core_->peer_ended || core_->failure.has_value();
  }
  std::shared_ptr<Answerer::Core> core_;
  std::chrono::steady_clock::time_point deadline_ = std::chrono::steady_clock::time_point::max();
};

}  // namespace

Answerer::Answerer(std::shared_ptr<Core> core) : core_(std::move(core)) {}

Answerer::~Answerer() {
  try {
    if (!core_->taken) core_->close();
  } catch (...) {  // a destructor cannot report; the sockets close with the process
  }
}

proto::Result<std::shared_ptr<Answerer>> Answerer::create(const asio::any_io_executor& ex,
                                                          Options options) {
  init_usrsctp();
  auto core = std::make_shared<Core>(ex, std::move(options));
  if (auto r = core->init_dtls(); !r) return std::unexpected(r.error());
  {
    const std::lock_guard lock(registry_mutex);
    registry()[core.get()] = core;
  }
  usrsctp_register_address(core.get());
  core->ctx = g_main_context_new();
  core->loop = g_main_loop_new(core->ctx, FALSE);
  core->agent = nice_agent_new_full(core->ctx, NICE_COMPATIBILITY_RFC5245, NICE_AGENT_OPTION_NONE);
  if (!core->agent) {
    core->close();
    return std::unexpected(failed("no ICE agent"));
  }
  g_object_set(core->agent, "controlling-mode", FALSE, "ice-tcp", FALSE, "upnp", FALSE, nullptr);
  if (!core->options.stun_host.empty()) {
    g_object_set(core->agent, "stun-server", core->options.stun_host.c_str(), "stun-server-port",
                 static_cast<guint>(core->options.stun_port), nullptr);
  }
  const bool loopback =
      core->options.stun_host.starts_with("127.") || core->options.stun_host == "::1";
  for (const auto& a : local_addresses(loopback)) {
    NiceAddress address;
    nice_address_init(&address);
    if (nice_address_set_from_string(&address, a.c_str())) {
      nice_agent_add_local_address(core->agent, &address);
    }
  }
  g_signal_connect(core->agent, "candidate-gathering-done", G_CALLBACK(on_gathering_done),
                   core.get());
  g_signal_connect(core->agent, "component-state-changed", G_CALLBACK(on_state_changed),
                   core.get());
  core->stream = nice_agent_add_stream(core->agent, 1);
  nice_agent_set_stream_name(core->agent, core->stream, "application");
  nice_agent_attach_recv(core->agent, core->stream, 1, core->ctx, on_receive, core.get());
  core->dtls_timer = g_timeout_source_new(100);
  g_source_set_callback(core->dtls_timer, on_dtls_timer, core.get(), nullptr);
  g_source_attach(core->dtls_timer, core->ctx);
  core->thread = std::thread([loop = core->loop] { g_main_loop_run(loop); });
  return std::shared_ptr<Answerer>(new Answerer(std::move(core)));
}

proto::Result<void> Answerer::gather(std::chrono::milliseconds budget) {
  auto& c = *core_;
  if (c.gathering) return {};
  c.gathering = true;
  c.gather_deadline = std::chrono::steady_clock::now() + budget;
  if (!nice_agent_gather_candidates(c.agent, c.stream)) {
    return std::unexpected(failed("the ICE agent could not gather candidates"));
  }
  return {};
}

awaitable<proto::Result<std::string>> Answerer::answer(const proto::webrtc::Description& offer,
                                                       std::chrono::milliseconds budget) {
  auto& c = *core_;
  if (!c.gathering) {
    if (auto r = gather(budget); !r) co_return std::unexpected(r.error());
  }
  const auto deadline = c.gather_deadline;
  {
    const std::lock_guard lock(c.m);
    c.remote_fingerprint = offer.fingerprint;
    c.dtls_client = offer.setup != proto::webrtc::Setup::active;
  }
  c.remote_sctp_port = offer.sctp_port;
  c.message_bytes = std::min<std::size_t>(kSendMessage, offer.max_message_size);
  nice_agent_set_remote_credentials(c.agent, c.stream, offer.ufrag.c_str(), offer.pwd.c_str());
  GSList* remote = nullptr;
  for (const auto& cand : offer.candidates) {
    std::string why;
    if (c.options.allow && !c.options.allow(cand, &why)) {
      c.notes.push_back("WebRTC: not checked: " + proto::terminal_text(cand.address) + ": " + why);
      continue;
    }
    // libnice parses only whole "a=candidate:" lines: without the prefix it returns nothing, and
    // the browser was reachable only where its own checks came through (no NAT in between).
    const std::string sdp_line = cand.line.starts_with("a=") ? cand.line : "a=" + cand.line;
    NiceCandidate* n = nice_agent_parse_remote_candidate_sdp(c.agent, c.stream, sdp_line.c_str());
    if (n) {
      remote = g_slist_append(remote, n);
    } else {
      c.notes.push_back("WebRTC: a candidate ICE could not read: " +
                        proto::terminal_text(cand.address));
    }
  }
  if (remote) {
    nice_agent_set_remote_candidates(c.agent, c.stream, 1, remote);
    g_slist_free_full(remote, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  }
  for (;;) {
    {
      const std::lock_guard lock(c.m);
      if (c.gathered || c.failure) break;
    }
    if (!co_await c.wait_until(deadline)) break;  // what was gathered so far
  }
  gchar* ufrag = nullptr;
  gchar* pwd = nullptr;
  nice_agent_get_local_credentials(c.agent, c.stream, &ufrag, &pwd);
  proto::webrtc::Description mine;
  mine.ufrag = ufrag ? ufrag : "";
  mine.pwd = pwd ? pwd : "";
  g_free(ufrag);
  g_free(pwd);
  mine.fingerprint = c.local_fingerprint;
  mine.setup = c.dtls_client ? proto::webrtc::Setup::active : proto::webrtc::Setup::passive;
  mine.mid = offer.mid;
  mine.sctp_port = kSctpPort;
  mine.max_message_size = kMaxMessage;
  GSList* locals = nice_agent_get_local_candidates(c.agent, c.stream, 1);
  for (GSList* i = locals; i; i = i->next) {
    gchar* line =
        nice_agent_generate_local_candidate_sdp(c.agent, static_cast<NiceCandidate*>(i->data));
    if (line) {
      if (auto parsed = proto::webrtc::parse_candidate(line)) mine.candidates.push_back(*parsed);
      g_free(line);
    }
  }
  g_slist_free_full(locals, reinterpret_cast<GDestroyNotify>(nice_candidate_free));
  if (mine.candidates.empty()) co_return std::unexpected(failed("no local candidate"));
  std::array<std::uint8_t, 8> id{};
  RAND_bytes(id.data(), id.size());
  std::uint64_t session = 0;
  for (const auto b : id) session = (session << 8) | b;
  co_return proto::webrtc::format_answer(mine, session >> 2);
}

awaitable<proto::Result<std::unique_ptr<ByteStream>>> Answerer::channel(
    std::chrono::milliseconds budget) {
  auto& c = *core_;
  const auto deadline = std::chrono::steady_clock::now() + budget;
  for (;;) {
    bool started = false;
    {
      const std::lock_guard lock(c.m);
      if (c.failure) co_return std::unexpected(*c.failure);
      started = c.sctp_started;
    }
    if (c.closed) co_return std::unexpected(failed("closed"));
    if (started) c.pump();
    if (c.sctp_up) break;
    if (c.eof) co_return std::unexpected(failed("the browser ended the SCTP association"));
    if (!co_await c.wait_until(deadline)) {
      bool ice = false;
      bool dtls = false;
      {
        const std::lock_guard lock(c.m);
        ice = c.ice_connected;
        dtls = c.dtls_done;
      }
      co_return std::unexpected(failed(!ice    ? "no connectivity check succeeded in time"
                                       : !dtls ? "the DTLS handshake did not finish in time"
                                               : "the SCTP association did not come up in time"));
    }
  }
  c.taken = true;
  co_return std::make_unique<ChannelStream>(core_);
}

std::vector<std::string> Answerer::notes() const {
  return core_->notes;
}

void Answerer::close() {
  core_->close();
}

}  // namespace ferry::net::webrtc
