#include "net/quic.hpp"

#include <gnutls/crypto.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>
#include <ngtcp2/ngtcp2.h>
#include <ngtcp2/ngtcp2_crypto.h>
#include <ngtcp2/ngtcp2_crypto_gnutls.h>
#include <sodium.h>

#include <algorithm>
#include <boost/asio/post.hpp>
#include <cstring>
#include <ctime>
#include <utility>

namespace ferry::net {

using namespace std::chrono_literals;
using proto::Errc;

namespace {

constexpr char kAlpn[] = "ferry/1";
constexpr char kPriority[] =
    "NORMAL:-VERS-ALL:+VERS-TLS1.3:-CIPHER-ALL:+AES-128-GCM:+AES-256-GCM:+CHACHA20-POLY1305:"
    "-GROUP-ALL:+GROUP-X25519:+GROUP-SECP256R1:%DISABLE_TLS13_COMPAT_MODE";
constexpr std::size_t kMaxUdpPayload = 1452;
// What a writer may have queued: bytes not yet sent up to the congestion window (at least
// kMinUnacked), so a slow path never holds more than a few seconds of the transfer (a transfer
// that moves away from it waits for the receiver to read what it holds); and bytes not yet
// acknowledged from the first gap on (in flight, queued, or past a lost packet that is being
// sent again) up to kMaxUnacked, so memory stays constant. The earlier single bound, twice the
// congestion window of unacknowledged bytes, starved a long lossy path: a loss holds the
// acknowledged offset back for a round trip or more while the window shrinks for recovery
// (200 ms, 1 % loss: 8.2 MB/s of a 12.5 MB/s link).
constexpr std::uint64_t kMinUnacked = 1 << 20;
constexpr std::uint64_t kMaxUnacked = 16 << 20;
constexpr std::uint64_t kStreamWindow = 16 << 20;
// A peer that vanishes (killed, unplugged) is noticed after this much silence; keep-alives keep a
// quiet but healthy path (a person deciding whether to accept) open, and its NAT mappings too.
constexpr auto kIdleTimeout = 10s;
constexpr auto kKeepAlive = 4s;

ngtcp2_tstamp now_ts() {
  return static_cast<ngtcp2_tstamp>(std::chrono::duration_cast<std::chrono::nanoseconds>(
                                        std::chrono::steady_clock::now().time_since_epoch())
                                        .count());
}

std::vector<std::uint8_t> sockaddr_bytes(const udp::endpoint& ep) {
  const auto* p = reinterpret_cast<const std::uint8_t*>(ep.data());
  return {p, p + ep.size()};
}

ngtcp2_path make_path(std::vector<std::uint8_t>& local, std::vector<std::uint8_t>& remote) {
  ngtcp2_path path{};
  path.local.addr = reinterpret_cast<ngtcp2_sockaddr*>(local.data());
  path.local.addrlen = static_cast<ngtcp2_socklen>(local.size());
  path.remote.addr = reinterpret_cast<ngtcp2_sockaddr*>(remote.data());
  path.remote.addrlen = static_cast<ngtcp2_socklen>(remote.size());
  return path;
}

void random_cid(ngtcp2_cid& cid, std::size_t len) {
  cid.datalen = len;
  randombytes_buf(cid.data, len);
}

std::string gnutls_text(int rv) {
  return gnutls_strerror(rv);
}

}  // namespace

// ---- identity ---------------------------------------------------------------------------------

struct QuicIdentity::Native {
  gnutls_certificate_credentials_t cred = nullptr;
  Native() = default;
  Native(const Native&) = delete;
  Native& operator=(const Native&) = delete;
  ~Native() {
    if (cred != nullptr) gnutls_certificate_free_credentials(cred);
  }
};

QuicIdentity::QuicIdentity() : native_(std::make_unique<Native>()) {}
QuicIdentity::~QuicIdentity() = default;

proto::Result<std::shared_ptr<QuicIdentity>> QuicIdentity::generate() {
  gnutls_x509_privkey_t key = nullptr;
  gnutls_x509_crt_t crt = nullptr;
  auto id = std::shared_ptr<QuicIdentity>(new QuicIdentity());
  int rv = gnutls_x509_privkey_init(&key);
  if (rv == 0) {
    rv = gnutls_x509_privkey_generate(key, GNUTLS_PK_ECDSA,
                                      GNUTLS_CURVE_TO_BITS(GNUTLS_ECC_CURVE_SECP256R1), 0);
  }
  if (rv == 0) rv = gnutls_x509_crt_init(&crt);
  if (rv == 0) rv = gnutls_x509_crt_set_version(crt, 3);
  std::array<std::uint8_t, 16> serial{};
  randombytes_buf(serial.data(), serial.size());
  serial[0] &= 0x7F;
  if (rv == 0) rv = gnutls_x509_crt_set_serial(crt, serial.data(), serial.size());
  const std::time_t now = std::time(nullptr);
  if (rv == 0) rv = gnutls_x509_crt_set_activation_time(crt, now - 3600);
  if (rv == 0) rv = gnutls_x509_crt_set_expiration_time(crt, now + std::time_t{7} * 86400);
  if (rv == 0) rv = gnutls_x509_crt_set_dn(crt, "CN=ferry", nullptr);
  if (rv == 0) rv = gnutls_x509_crt_set_key(crt, key);
  if (rv == 0) rv = gnutls_x509_crt_sign2(crt, crt, key, GNUTLS_DIG_SHA256, 0);
  gnutls_certificate_credentials_t cred = nullptr;
  if (rv == 0) rv = gnutls_certificate_allocate_credentials(&cred);
  if (rv == 0) id->native_->cred = cred;
  if (rv == 0) rv = gnutls_certificate_set_x509_key(cred, &crt, 1, key);
  gnutls_datum_t der{};
  if (rv == 0) rv = gnutls_x509_crt_export2(crt, GNUTLS_X509_FMT_DER, &der);
  if (rv == 0) {
    id->fingerprint_.resize(32);
    rv = gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, id->fingerprint_.data());
    gnutls_free(der.data);
  }
  if (crt != nullptr) gnutls_x509_crt_deinit(crt);
  if (key != nullptr) gnutls_x509_privkey_deinit(key);
  if (rv != 0)
    return proto::fail(Errc::io_error, "cannot make a QUIC certificate: " + gnutls_text(rv));
  return id;
}

// ---- ngtcp2 callbacks -------------------------------------------------------------------------

struct QuicConnection::Native {
  ngtcp2_conn* conn = nullptr;
  gnutls_session_t session = nullptr;
  gnutls_certificate_credentials_t client_cred = nullptr;  // the client's (it presents none)
  ngtcp2_crypto_conn_ref ref{};  // how ngtcp2's GnuTLS glue finds the connection
  QuicConnection* self = nullptr;
  Native() = default;
  Native(const Native&) = delete;
  Native& operator=(const Native&) = delete;
  ~Native() {
    if (conn != nullptr) ngtcp2_conn_del(conn);
    if (session != nullptr) gnutls_deinit(session);
    if (client_cred != nullptr) gnutls_certificate_free_credentials(client_cred);
  }
};

struct QuicConnection::Callbacks {
  static QuicConnection& of(void* user_data) { return *static_cast<QuicConnection*>(user_data); }

  static ngtcp2_conn* get_conn(ngtcp2_crypto_conn_ref* ref) {
    return static_cast<Native*>(ref->user_data)->conn;
  }

  static void rand(uint8_t* dest, size_t len, const ngtcp2_rand_ctx*) {
    randombytes_buf(dest, len);
  }

  static int new_cid(ngtcp2_conn*, ngtcp2_cid* cid, uint8_t* token, size_t len, void*) {
    random_cid(*cid, len);
    randombytes_buf(token, NGTCP2_STATELESS_RESET_TOKENLEN);
    return 0;
  }

  static int handshake_completed(ngtcp2_conn* conn, void* user_data) {
    auto& self = of(user_data);
    if (!ngtcp2_conn_is_server(conn)) {
      std::int64_t id = -1;
      if (ngtcp2_conn_open_bidi_stream(conn, &id, nullptr) == 0) self.stream_id_ = id;
    }
    if (self.stream_id_ >= 0) {
      self.established_ = true;
      self.ready_.cancel();
    }
    return 0;
  }

  static int stream_open(ngtcp2_conn*, int64_t stream_id, void* user_data) {
    auto& self = of(user_data);
    if (self.stream_id_ < 0) {
      self.stream_id_ = stream_id;
      self.established_ = true;
      self.ready_.cancel();
    }
    return 0;
  }

  static int recv_stream_data(ngtcp2_conn*, uint32_t flags, int64_t stream_id, uint64_t,
                              const uint8_t* data, size_t len, void* user_data, void*) {
    auto& self = of(user_data);
    if (stream_id != self.stream_id_) return 0;
    if (self.rx_read_ == self.rx_.size()) {
      self.rx_.clear();
      self.rx_read_ = 0;
    } else if (self.rx_read_ > (1u << 20) && self.rx_read_ > self.rx_.size() / 2) {
      self.rx_.erase(self.rx_.begin(),
                     self.rx_.begin() + static_cast<std::ptrdiff_t>(self.rx_read_));
      self.rx_read_ = 0;
    }
    self.rx_.insert(self.rx_.end(), data, data + len);
    if ((flags & NGTCP2_STREAM_DATA_FLAG_FIN) != 0) self.rx_fin_ = true;
    self.rx_wake_ = true;  // after the flush that acknowledges it (schedule_flush)
    return 0;
  }

  static int acked(ngtcp2_conn*, int64_t stream_id, uint64_t offset, uint64_t len, void* user_data,
                   void*) {
    auto& self = of(user_data);
    if (stream_id != self.stream_id_) return 0;
    self.tx_acked_ = std::max(self.tx_acked_, offset + len);
    while (!self.tx_.empty() && self.tx_base_ + self.tx_.front().size() <= self.tx_acked_) {
      self.tx_base_ += self.tx_.front().size();
      self.tx_.pop_front();
    }
    self.writer_.cancel();
    return 0;
  }

  static int stream_close(ngtcp2_conn*, uint32_t, int64_t stream_id, uint64_t, void* user_data,
                          void*) {
    auto& self = of(user_data);
    if (stream_id == self.stream_id_) {
      self.rx_fin_ = true;
      self.wake_all();
    }
    return 0;
  }

  static int extend_max_stream_data(ngtcp2_conn*, int64_t, uint64_t, void* user_data, void*) {
    of(user_data).schedule_flush();
    return 0;
  }

  static int verify_certificate(gnutls_session_t session) {
    auto* ref = static_cast<Native*>(
        static_cast<ngtcp2_crypto_conn_ref*>(gnutls_session_get_ptr(session))->user_data);
    unsigned int count = 0;
    const gnutls_datum_t* certs = gnutls_certificate_get_peers(session, &count);
    if (certs == nullptr || count == 0) return -1;
    std::array<std::uint8_t, 32> digest{};
    if (gnutls_hash_fast(GNUTLS_DIG_SHA256, certs[0].data, certs[0].size, digest.data()) != 0) {
      return -1;
    }
    const auto& pinned = ref->self->pinned_;
    if (pinned.size() != digest.size() ||
        sodium_memcmp(pinned.data(), digest.data(), digest.size()) != 0) {
      ref->self->failure_ = "the peer's QUIC certificate is not the one it announced";
      return -1;
    }
    return 0;
  }
};

// ---- connection -------------------------------------------------------------------------------

QuicConnection::QuicConnection(std::shared_ptr<UdpMux> mux, const udp::endpoint& remote)
    : mux_(std::move(mux)),
      remote_(remote),
      native_(std::make_unique<Native>()),
      local_addr_(sockaddr_bytes(udp::endpoint(remote.address().is_v4()
                                                   ? asio::ip::address(asio::ip::address_v4::any())
                                                   : asio::ip::address(asio::ip::address_v6::any()),
                                               mux_->local_endpoint().port()))),
      remote_addr_(sockaddr_bytes(remote)),
      timer_(mux_->executor()),
      reader_(timer_.get_executor()),
      writer_(timer_.get_executor()),
      ready_(timer_.get_executor()) {}

QuicConnection::~QuicConnection() = default;

namespace {

ngtcp2_callbacks make_callbacks(bool server) {
  using C = QuicConnection::Callbacks;
  ngtcp2_callbacks cb{};
  if (server) {
    cb.recv_client_initial = ngtcp2_crypto_recv_client_initial_cb;
  } else {
    cb.client_initial = ngtcp2_crypto_client_initial_cb;
    cb.recv_retry = ngtcp2_crypto_recv_retry_cb;
  }
  cb.recv_crypto_data = ngtcp2_crypto_recv_crypto_data_cb;
  cb.encrypt = ngtcp2_crypto_encrypt_cb;
  cb.decrypt = ngtcp2_crypto_decrypt_cb;
  cb.hp_mask = ngtcp2_crypto_hp_mask_cb;
  cb.update_key = ngtcp2_crypto_update_key_cb;
  cb.delete_crypto_aead_ctx = ngtcp2_crypto_delete_crypto_aead_ctx_cb;
  cb.delete_crypto_cipher_ctx = ngtcp2_crypto_delete_crypto_cipher_ctx_cb;
  cb.get_path_challenge_data = ngtcp2_crypto_get_path_challenge_data_cb;
  cb.version_negotiation = ngtcp2_crypto_version_negotiation_cb;
  cb.rand = C::rand;
  cb.get_new_connection_id = C::new_cid;
  cb.handshake_completed = C::handshake_completed;
  cb.stream_open = C::stream_open;
  cb.recv_stream_data = C::recv_stream_data;
  cb.acked_stream_data_offset = C::acked;
  cb.stream_close = C::stream_close;
  cb.extend_max_stream_data = C::extend_max_stream_data;
  return cb;
}

void fill_settings(ngtcp2_settings& settings, ngtcp2_transport_params& params,
                   std::chrono::nanoseconds rtt) {
  ngtcp2_settings_default(&settings);
  settings.initial_ts = now_ts();
  if (rtt.count() > 0) {
    // A measured round trip (10 ms at least, never above ngtcp2's own default): a lost handshake
    // packet then costs a few round trips, not a second.
    settings.initial_rtt = static_cast<ngtcp2_duration>(
        std::clamp<std::int64_t>(rtt.count(), std::chrono::nanoseconds(10ms).count(),
                                 static_cast<std::int64_t>(NGTCP2_DEFAULT_INITIAL_RTT)));
  }
  // BBR, not BBR2: under 1 % random loss on a 1 Gbit/s lab link BBR kept 0.87-0.94 of iperf3's
  // TCP, BBR2 0.77-0.88 (it backs off on loss, which random loss is not). Cubic and Reno did worse.
  settings.cc_algo = NGTCP2_CC_ALGO_BBR;
  settings.max_tx_udp_payload_size = kMaxUdpPayload;
  settings.handshake_timeout = std::chrono::duration_cast<std::chrono::nanoseconds>(10s).count();
  ngtcp2_transport_params_default(&params);
  params.initial_max_streams_bidi = 1;
  params.initial_max_streams_uni = 0;
  params.initial_max_data = kStreamWindow;
  params.initial_max_stream_data_bidi_local = kStreamWindow;
  params.initial_max_stream_data_bidi_remote = kStreamWindow;
  params.max_idle_timeout =
      std::chrono::duration_cast<std::chrono::nanoseconds>(kIdleTimeout).count();
}

}  // namespace

proto::Result<void> QuicConnection::attach(const QuicIdentity* identity) {
  const bool server = identity != nullptr;
  gnutls_session_t s = nullptr;
  int rv = gnutls_init(&s, (server ? GNUTLS_SERVER : GNUTLS_CLIENT) | GNUTLS_ENABLE_EARLY_DATA |
                               GNUTLS_NO_END_OF_EARLY_DATA);
  if (rv != 0) return proto::fail(Errc::io_error, "cannot start TLS for QUIC: " + gnutls_text(rv));
  native_->session = s;
  rv = gnutls_priority_set_direct(s, kPriority, nullptr);
  const int configured = server ? ngtcp2_crypto_gnutls_configure_server_session(s)
                                : ngtcp2_crypto_gnutls_configure_client_session(s);
  if (rv != 0 || configured != 0)
    return proto::fail(Errc::io_error, "cannot configure TLS for QUIC");
  native_->self = this;
  native_->ref.get_conn = Callbacks::get_conn;
  native_->ref.user_data = native_.get();
  gnutls_session_set_ptr(s, &native_->ref);
  if (server) {
    rv = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, identity->native().cred);
  } else {
    rv = gnutls_certificate_allocate_credentials(&native_->client_cred);
    if (rv == 0) rv = gnutls_credentials_set(s, GNUTLS_CRD_CERTIFICATE, native_->client_cred);
    gnutls_session_set_verify_function(s, Callbacks::verify_certificate);
  }
  gnutls_datum_t alpn{reinterpret_cast<unsigned char*>(const_cast<char*>(kAlpn)),
                      sizeof(kAlpn) - 1};
  if (rv == 0) rv = gnutls_alpn_set_protocols(s, &alpn, 1, GNUTLS_ALPN_MANDATORY);
  if (rv != 0) {
    return proto::fail(Errc::io_error, "cannot configure TLS for QUIC: " + gnutls_text(rv));
  }
  ngtcp2_conn_set_tls_native_handle(native_->conn, s);
  ngtcp2_conn_set_keep_alive_timeout(
      native_->conn, std::chrono::duration_cast<std::chrono::nanoseconds>(kKeepAlive).count());
  return {};
}

proto::Result<std::shared_ptr<QuicConnection>> QuicConnection::connect(
    std::shared_ptr<UdpMux> mux, const udp::endpoint& remote, proto::Bytes pinned,
    std::chrono::nanoseconds rtt) {
  auto self = std::shared_ptr<QuicConnection>(new QuicConnection(std::move(mux), remote));
  self->pinned_ = std::move(pinned);
  ngtcp2_path path = make_path(self->local_addr_, self->remote_addr_);
  ngtcp2_cid dcid, scid;
  random_cid(dcid, NGTCP2_MIN_INITIAL_DCIDLEN);
  random_cid(scid, 8);
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  fill_settings(settings, params, rtt);
  const auto callbacks = make_callbacks(false);
  const int rv =
      ngtcp2_conn_client_new(&self->native_->conn, &dcid, &scid, &path, NGTCP2_PROTO_VER_V1,
                             &callbacks, &settings, &params, nullptr, self.get());
  if (rv != 0)
    return proto::fail(Errc::io_error, std::string("cannot start QUIC: ") + ngtcp2_strerror(rv));
  if (auto tls = self->attach(nullptr); !tls) return std::unexpected(tls.error());
  self->flush();
  return self;
}

bool QuicConnection::is_initial(proto::ByteView d) {
  ngtcp2_pkt_hd hd;
  return ngtcp2_accept(&hd, d.data(), d.size()) == 0;
}

proto::Result<std::shared_ptr<QuicConnection>> QuicConnection::accept(
    std::shared_ptr<UdpMux> mux, const udp::endpoint& remote,
    std::shared_ptr<QuicIdentity> identity, proto::ByteView first, std::chrono::nanoseconds rtt) {
  ngtcp2_pkt_hd hd;
  if (ngtcp2_accept(&hd, first.data(), first.size()) != 0) {
    return proto::fail(Errc::protocol, "not a QUIC Initial packet");
  }
  auto self = std::shared_ptr<QuicConnection>(new QuicConnection(std::move(mux), remote));
  self->identity_ = std::move(identity);
  ngtcp2_path path = make_path(self->local_addr_, self->remote_addr_);
  ngtcp2_cid scid;
  random_cid(scid, 8);
  ngtcp2_settings settings;
  ngtcp2_transport_params params;
  fill_settings(settings, params, rtt);
  params.original_dcid = hd.dcid;
  const auto callbacks = make_callbacks(true);
  const int rv = ngtcp2_conn_server_new(&self->native_->conn, &hd.scid, &scid, &path, hd.version,
                                        &callbacks, &settings, &params, nullptr, self.get());
  if (rv != 0)
    return proto::fail(Errc::io_error, std::string("cannot start QUIC: ") + ngtcp2_strerror(rv));
  if (auto tls = self->attach(self->identity_.get()); !tls) return std::unexpected(tls.error());
  self->on_packet(first, remote);
  return self;
}

void QuicConnection::on_packet(proto::ByteView d, const udp::endpoint& from) {
  // Only the punched peer speaks on this connection (no migration): anything else that reaches
  // the socket is noise or an attack, and must not touch the connection's state.
  if (failed_ || native_->conn == nullptr || from != remote_) return;
  auto remote_bytes = sockaddr_bytes(from);
  ngtcp2_path path = make_path(local_addr_, remote_bytes);
  ngtcp2_pkt_info pi{};
  const int rv = ngtcp2_conn_read_pkt(native_->conn, &path, &pi, d.data(), d.size(), now_ts());
  if (rv == NGTCP2_ERR_DRAINING) {
    rx_fin_ = true;
    fail("the peer closed the QUIC connection");
    return;
  }
  if (rv == NGTCP2_ERR_DISCARD_PKT) return;  // undecryptable or stray: dropped, nothing else
  if (rv != 0) {
    if (failure_.empty()) failure_ = std::string("QUIC: ") + ngtcp2_strerror(rv);
    fail(failure_);
    return;
  }
  schedule_flush();
}

void QuicConnection::schedule_flush() {
  if (flush_posted_ || failed_) return;
  flush_posted_ = true;
  asio::post(timer_.get_executor(), [self = shared_from_this()] {
    self->flush_posted_ = false;
    self->flush();
    // The reader runs only after the acknowledgements for what it reads left: what it does with
    // the bytes (decrypting, hashing, writing) would otherwise delay them and stall the sender.
    if (self->rx_wake_) {
      self->rx_wake_ = false;
      self->reader_.cancel();
    }
  });
}

void QuicConnection::flush() {
  if (failed_ || native_->conn == nullptr || waiting_writable_) return;
  const proto::SendSample progress{tx_acked_, tx_sent_ > tx_acked_ ? 1U : 0U, 0};
  if (stall_.observe(progress, std::chrono::steady_clock::now()) ==
      proto::SendStall::Action::give_up) {
    path_broke(proto::stall_error("the QUIC path").detail);
    return;
  }
  auto* conn = native_->conn;
  const auto blocked = [](const error_code& ec) {
    return ec == asio::error::would_block || ec == asio::error::try_again;
  };
  if (!pending_packet_.empty()) {
    if (blocked(mux_->send_segments(pending_packet_, pending_segment_, remote_))) {
      waiting_writable_ = true;
      asio::co_spawn(
          timer_.get_executor(),
          [self = shared_from_this()]() -> awaitable<void> {
            co_await self->mux_->wait_writable();
            self->waiting_writable_ = false;
            self->flush();
          },
          asio::detached);
      return;
    }
    pending_packet_.clear();
  }
  // Packets are built back to back and leave in one write while they have the same size (GSO);
  // a shorter one ends a batch, a longer one starts the next.
  constexpr std::size_t kBatch = 64;
  batch_.resize(kBatch * kMaxUdpPayload);
  std::size_t used = 0;
  std::size_t segment = 0;
  const auto send_batch = [&](std::size_t bytes) {
    if (bytes == 0) return true;
    const proto::ByteView data(batch_.data(), bytes);
    if (blocked(mux_->send_segments(data, segment, remote_))) {
      pending_packet_.assign(data.begin(), data.end());
      pending_segment_ = segment;
      return false;
    }
    return true;
  };
  ngtcp2_path path = make_path(local_addr_, remote_addr_);
  const ngtcp2_tstamp ts = now_ts();
  // As many packets as the pacer allows in one go; the expiry timer brings us back for more.
  const std::size_t burst =
      std::clamp<std::size_t>(ngtcp2_conn_get_send_quantum(conn) / kMaxUdpPayload, 1, kBatch);
  bool more = true;
  for (std::size_t packets = 0; packets < burst && more; ++packets) {
    ngtcp2_vec vec{};
    std::int64_t stream = -1;
    std::uint32_t flags = 0;
    if (stream_id_ >= 0 && established_) {
      if (tx_sent_ < tx_end_) {
        // The chunk holding tx_sent_: chunks stay put until acknowledged, as ngtcp2 needs.
        std::uint64_t base = tx_base_;
        for (auto& chunk : tx_) {
          if (tx_sent_ < base + chunk.size()) {
            vec.base = chunk.data() + (tx_sent_ - base);
            vec.len = static_cast<std::size_t>(base + chunk.size() - tx_sent_);
            break;
          }
          base += chunk.size();
        }
        stream = stream_id_;
      }
      if (fin_wanted_ && !fin_sent_ && tx_sent_ + vec.len == tx_end_) {
        stream = stream_id_;
        flags |= NGTCP2_WRITE_STREAM_FLAG_FIN;
      }
    }
    std::uint8_t* out = batch_.data() + used;
    ngtcp2_ssize accepted = -1;
    ngtcp2_pkt_info pi{};
    ngtcp2_ssize n =
        ngtcp2_conn_writev_stream(conn, &path, &pi, out, kMaxUdpPayload, &accepted, flags, stream,
                                  vec.len > 0 ? &vec : nullptr, vec.len > 0 ? 1 : 0, ts);
    if (n == NGTCP2_ERR_STREAM_DATA_BLOCKED || n == NGTCP2_ERR_STREAM_SHUT_WR) {
      // Flow control: send what else there is (acks), then wait for MAX_STREAM_DATA.
      n = ngtcp2_conn_writev_stream(conn, &path, &pi, out, kMaxUdpPayload, nullptr, 0, -1, nullptr,
                                    0, ts);
      more = false;
    }
    if (n < 0) {
      fail(std::string("QUIC: ") + ngtcp2_strerror(static_cast<int>(n)));
      return;
    }
    if (accepted > 0) {
      tx_sent_ += static_cast<std::uint64_t>(accepted);
      if (writer_waiting_) writer_.cancel();  // room in the queue
    }
    if ((flags & NGTCP2_WRITE_STREAM_FLAG_FIN) != 0 && accepted >= 0 && tx_sent_ == tx_end_) {
      fin_sent_ = true;
    }
    if (n == 0) break;  // congestion window or pacing: the timer brings us back
    const auto size = static_cast<std::size_t>(n);
    if (used > 0 && size > segment) {
      // Longer than the batch's packets: send those, and start again with this one.
      if (!send_batch(used)) {
        // The socket is full: this packet is lost like any other dropped datagram, and QUIC
        // sends its data again.
        ngtcp2_conn_update_pkt_tx_time(conn, ts);
        return flush();
      }
      std::memmove(batch_.data(), out, size);
      used = 0;
    }
    if (used == 0) segment = size;
    used += size;
    if (size < segment) {  // a short packet ends the batch
      if (!send_batch(used)) {
        ngtcp2_conn_update_pkt_tx_time(conn, ts);
        return flush();  // arms the wait for writability
      }
      used = 0;
    }
  }
  if (!send_batch(used)) {
    ngtcp2_conn_update_pkt_tx_time(conn, ts);
    return flush();
  }
  ngtcp2_conn_update_pkt_tx_time(conn, ts);
  arm_timer();
}

void QuicConnection::arm_timer() {
  if (failed_ || native_->conn == nullptr) return;
  const ngtcp2_tstamp expiry = ngtcp2_conn_get_expiry(native_->conn);
  if (expiry == UINT64_MAX) return;
  // Re-arming costs a system call (timerfd) and ngtcp2's deadline moves with every packet: keep an
  // earlier wake-up (its handler finds nothing due and re-arms), move only to an earlier one.
  if (timer_armed_ && armed_expiry_ <= expiry) return;
  const ngtcp2_tstamp now = now_ts();
  timer_armed_ = true;
  armed_expiry_ = expiry;
  timer_.expires_after(std::chrono::nanoseconds(expiry > now ? expiry - now : 0));
  timer_.async_wait([weak = weak_from_this()](error_code ec) {
    auto self = weak.lock();
    if (!self) return;
    if (ec == asio::error::operation_aborted && self->timer_armed_) return;  // re-armed earlier
    self->timer_armed_ = false;
    if (ec || self->failed_) return;
    const int rv = ngtcp2_conn_handle_expiry(self->native_->conn, now_ts());
    if (rv != 0) {
      if (rv == NGTCP2_ERR_IDLE_CLOSE && self->established_) {
        self->path_broke("the QUIC path went silent: nothing came from the other side for " +
                         std::to_string(kIdleTimeout.count()) + " s (the path to it broke)");
        return;
      }
      self->fail(rv == NGTCP2_ERR_IDLE_CLOSE ? "the QUIC path went silent"
                 : rv == NGTCP2_ERR_HANDSHAKE_TIMEOUT
                     ? "the QUIC handshake timed out"
                     : std::string("QUIC: ") + ngtcp2_strerror(rv));
      return;
    }
    self->flush();
  });
}

void QuicConnection::fail(std::string why) {
  if (failed_) return;
  failed_ = true;
  if (failure_.empty()) failure_ = std::move(why);
  timer_armed_ = false;
  timer_.cancel();
  wake_all();
}

void QuicConnection::path_broke(std::string why) {
  if (failed_) return;
  if (!end_reason_) end_reason_ = proto::Error{Errc::peer_gone, why};
  fail(std::move(why));
}

void QuicConnection::wake_all() {
  reader_.cancel();
  writer_.cancel();
  ready_.cancel();
}

awaitable<bool> QuicConnection::wait(asio::steady_timer& t) {
  // Returns false when the deadline passed.
  const auto far = std::chrono::steady_clock::now() + std::chrono::hours(24 * 365);
  t.expires_at(deadline_.value_or(far));
  error_code ec;
  co_await t.async_wait(redirect(ec));
  co_return !(deadline_ && std::chrono::steady_clock::now() >= *deadline_);
}

awaitable<proto::Result<void>> QuicConnection::established(std::chrono::milliseconds timeout) {
  auto keep = shared_from_this();
  const auto until = std::chrono::steady_clock::now() + timeout;
  while (!established_ && !failed_ && std::chrono::steady_clock::now() < until) {
    ready_.expires_at(until);
    error_code ec;
    co_await ready_.async_wait(redirect(ec));
  }
  if (established_ && !failed_) co_return proto::Result<void>{};
  if (!failed_) fail("the QUIC handshake did not finish in time");
  co_return proto::fail(Errc::no_path, failure_);
}

awaitable<std::size_t> QuicConnection::read_some(asio::mutable_buffer b, error_code& ec) {
  auto keep = shared_from_this();
  while (rx_read_ == rx_.size() && !rx_fin_ && !failed_) {
    if (!co_await wait(reader_)) {
      ec = asio::error::timed_out;
      co_return 0;
    }
  }
  if (rx_read_ == rx_.size()) {
    ec = rx_fin_ ? error_code(asio::error::eof) : error_code(asio::error::connection_reset);
    co_return 0;
  }
  const std::size_t n = std::min(b.size(), rx_.size() - rx_read_);
  std::memcpy(b.data(), rx_.data() + rx_read_, n);
  rx_read_ += n;
  auto* conn = native_->conn;
  ngtcp2_conn_extend_max_stream_offset(conn, stream_id_, n);
  ngtcp2_conn_extend_max_offset(conn, n);
  schedule_flush();
  co_return n;
}

awaitable<void> QuicConnection::write(asio::const_buffer b, error_code& ec) {
  auto keep = shared_from_this();
  const auto full = [this] {
    ngtcp2_conn_stat stat{};
    if (native_->conn != nullptr) ngtcp2_conn_get_conn_stat(native_->conn, &stat);
    return tx_end_ - tx_sent_ >= std::max<std::uint64_t>(stat.cwnd, kMinUnacked) ||
           tx_end_ - tx_acked_ >= kMaxUnacked;
  };
  while (!failed_ && full()) {
    writer_waiting_ = true;
    const bool in_time = co_await wait(writer_);
    writer_waiting_ = false;
    if (!in_time) {
      ec = asio::error::timed_out;
      co_return;
    }
  }
  if (failed_ || fin_wanted_) {
    ec = asio::error::connection_reset;
    co_return;
  }
  const auto* p = static_cast<const std::uint8_t*>(b.data());
  tx_.emplace_back(p, p + b.size());
  tx_end_ += b.size();
  flush();
}

awaitable<void> QuicConnection::acknowledged(std::chrono::milliseconds timeout) {
  auto keep = shared_from_this();
  deadline_ = std::chrono::steady_clock::now() + timeout;
  while (!failed_ && tx_acked_ < tx_end_) {
    if (!co_await wait(writer_)) break;
  }
}

awaitable<void> QuicConnection::finish(std::chrono::milliseconds timeout) {
  auto keep = shared_from_this();
  if (!failed_ && stream_id_ >= 0) {
    fin_wanted_ = true;
    flush();
    deadline_ = std::chrono::steady_clock::now() + timeout;
    // Until every byte and the FIN are acknowledged, or the peer closes.
    while (!failed_ && (tx_acked_ < tx_end_ || !fin_sent_)) {
      if (!co_await wait(writer_)) break;
    }
    // Then let the peer end the connection (it does once it has read our FIN), within timeout.
    while (!failed_ && !rx_fin_) {
      if (!co_await wait(reader_)) break;
    }
  }
  abort();
}

void QuicConnection::abort() {
  if (native_->conn != nullptr && !failed_) {
    auto* conn = native_->conn;
    std::array<std::uint8_t, kMaxUdpPayload> buf{};
    ngtcp2_path path = make_path(local_addr_, remote_addr_);
    ngtcp2_pkt_info pi{};
    ngtcp2_connection_close_error ccerr{};
    ngtcp2_connection_close_error_set_application_error(&ccerr, 0, nullptr, 0);
    const ngtcp2_ssize n = ngtcp2_conn_write_connection_close(conn, &path, &pi, buf.data(),
                                                              buf.size(), &ccerr, now_ts());
    if (n > 0) mux_->send(proto::ByteView(buf.data(), static_cast<std::size_t>(n)), remote_);
  }
  fail("closed");
  mux_->close();
}

namespace {

class QuicStream : public ByteStream {
 public:
  explicit QuicStream(std::shared_ptr<QuicConnection> c) : c_(std::move(c)) {}
  ~QuicStream() override {
    try {
      c_->abort();
    } catch (...) {  // a destructor cannot report; the connection is closed either way
    }
  }
  awaitable<std::size_t> read_some(asio::mutable_buffer b, error_code& ec) override {
    co_return co_await c_->read_some(b, ec);
  }
  awaitable<void> write(asio::const_buffer b, error_code& ec) override {
    co_await c_->write(b, ec);
  }
  void expires_after(std::chrono::steady_clock::duration d) override {
    c_->set_deadline(std::chrono::steady_clock::now() + d);
  }
  void expires_never() override { c_->set_deadline(std::nullopt); }
  awaitable<void> close_gracefully(std::chrono::milliseconds timeout) override {
    co_await c_->finish(timeout);
  }
  awaitable<void> acknowledged(std::chrono::milliseconds timeout) override {
    co_await c_->acknowledged(timeout);
  }
  void close() override { c_->abort(); }
  std::optional<proto::Error> end_reason() const override { return c_->end_reason(); }
  // Measured on a 1 Gbit/s lab link: 1 MiB records held acknowledgements back long enough to
  // leave ~10 % of the link idle; 256 KiB (and 128 KiB, no better) kept it busy.
  std::size_t record_bytes() const override { return std::size_t{256} << 10; }

 private:
  std::shared_ptr<QuicConnection> c_;
};

}  // namespace

std::unique_ptr<ByteStream> QuicConnection::stream() {
  return std::make_unique<QuicStream>(shared_from_this());
}

}  // namespace ferry::net
