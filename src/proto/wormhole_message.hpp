// magic-wormhole's messages as data: the mailbox server's JSON frames (bind, claim, open, add,
// release, close and their answers), the file-transfer application's messages sealed inside the
// phases (transit hints, offers, answers), the mailbox URL and the transit helper address.
// Pure codecs: every field a server or peer sends is checked and bounded here.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "proto/bytes.hpp"
#include "proto/error.hpp"
#include "proto/server_url.hpp"

namespace ferry::proto {

// ---- the mailbox server ----------------------------------------------------------------------

struct MailboxUrl {
  ServerUrl server;    // ws:// as http://, wss:// as https://
  std::string target;  // the WebSocket path ("/v1")
};
Result<MailboxUrl> parse_mailbox_url(std::string_view text);

struct TransitHelper {
  std::string host;
  std::uint16_t port = 0;
};
Result<TransitHelper> parse_transit_helper(std::string_view text);  // "tcp:HOST:PORT"

enum class MailboxEvent {
  welcome,
  ack,
  allocated,
  claimed,
  released,
  message,
  closed,
  error,
  other
};

struct MailboxFrame {
  MailboxEvent event = MailboxEvent::other;
  std::string nameplate;  // allocated
  std::string mailbox;    // claimed
  std::string side;       // message
  std::string phase;      // message
  Bytes body;             // message (hex-decoded)
  std::string error;      // error, or welcome's refusal; as the server wrote it
};
Result<MailboxFrame> parse_mailbox_frame(std::string_view json);

std::string mailbox_bind(std::string_view appid, std::string_view side);
std::string mailbox_allocate();
std::string mailbox_claim(std::string_view nameplate);
std::string mailbox_open(std::string_view mailbox);
std::string mailbox_add(std::string_view phase, ByteView body);
std::string mailbox_release(std::string_view nameplate);
std::string mailbox_close(std::string_view mailbox, std::string_view mood);

// ---- what a mailbox server reads and writes (ferry serve's /v1) --------------------------------

enum class MailboxRequest { bind, list, allocate, claim, release, open, add, close, ping };

struct MailboxClientFrame {
  MailboxRequest type = MailboxRequest::ping;
  std::string appid, side, nameplate, mailbox, phase, body, mood;  // as sent (body: hex)
  bool has_nameplate = false;  // release/close may leave it out (then: the claimed/opened one)
  bool has_mailbox = false;
  std::string id;    // the client's id for the message, JSON-encoded, echoed in the ack
  std::string ping;  // JSON-encoded
};
// One client frame, strictly: an unknown type, a missing or over-long field is an error whose
// detail is the sentence the server sends back.
Result<MailboxClientFrame> parse_mailbox_client_frame(std::string_view json);

std::string mailbox_welcome();
std::string mailbox_ack(std::string_view id_json);
std::string mailbox_error(std::string_view error, std::string_view orig);
std::string mailbox_allocated(std::string_view nameplate);
std::string mailbox_claimed(std::string_view mailbox);
std::string mailbox_simple(std::string_view type);  // "released", "closed", "nameplates" (none)
std::string mailbox_pong(std::string_view ping_json);
std::string mailbox_message(std::string_view side, std::string_view phase, std::string_view body,
                            double server_rx, std::string_view id_json);

// ---- a transit relay's first line -----------------------------------------------------------

struct TransitRelayRequest {
  std::array<std::uint8_t, 32> token{};
  std::string side;  // 16 hex digits
};
inline constexpr std::size_t kMaxTransitRelayLine = 128;
// "please relay <64 hex> for side <16 hex>\n" (without the newline).
Result<TransitRelayRequest> parse_transit_relay_request(std::string_view line);

// ---- the file-transfer application -----------------------------------------------------------

struct TransitHint {
  std::string host;
  std::uint16_t port = 0;
  bool relay = false;  // reached through a transit relay
};
inline constexpr std::size_t kMaxTransitHints = 16;

struct TextOffer {
  std::string message;
};
struct FileOffer {
  std::string name;  // one checked path component
  std::uint64_t size = 0;
};
struct DirectoryOffer {
  std::string name;  // one checked path component
  std::uint64_t zip_size = 0;
  std::uint64_t bytes = 0;
  std::uint64_t files = 0;
};
using WormholeOffer = std::variant<TextOffer, FileOffer, DirectoryOffer>;

// One decrypted application message: any of its parts may be present.
struct WormholeAppMessage {
  std::optional<std::vector<TransitHint>> transit;
  std::optional<WormholeOffer> offer;
  std::optional<std::string> answer;  // "message_ack" / "file_ack" value
  std::optional<std::string> error;   // the peer's own words
};
Result<WormholeAppMessage> parse_wormhole_app_message(ByteView plaintext);

std::string wormhole_version_message();
std::string wormhole_transit_message(const std::vector<TransitHint>& hints);
std::string wormhole_answer(std::string_view kind);  // {"answer": {kind: "ok"}}
std::string wormhole_error(std::string_view text);
std::string wormhole_transit_ack(std::string_view sha256_hex);  // the receiver's last record
std::string wormhole_transit_ack_refusal();  // the last record when the bytes were refused
// The receiver's last record as the sender reads it: ok with this SHA-256 (hex), or a failure
// naming what the receiver said.
Result<void> check_wormhole_transit_ack(ByteView plaintext, std::string_view sha256_hex);
// The offer a sender makes.
std::string wormhole_offer(const WormholeOffer& offer);

// A wormhole code: "<digits>-<word>-<word>…". Returns the nameplate, or nothing when the text is
// not one.
std::optional<std::string> wormhole_nameplate(std::string_view code);
bool is_pgp_word(std::string_view word);
const std::array<std::string_view, 256>& pgp_even_words();
const std::array<std::string_view, 256>& pgp_odd_words();
// A code as wormhole makes them: the nameplate, then words for the given random bytes, odd word
// first and alternating.
std::string make_wormhole_code(std::string_view nameplate, ByteView random);
// A code ferry should take as magic-wormhole's: a nameplate and two or more words, all from the
// PGP word list, and not all from ferry's own (ten words are in both).
bool looks_like_wormhole_code(std::string_view code);
// A wormhole code with a mistyped word, said before anything reaches a server: when one of its
// words is a PGP word that is not one of ferry's (so it is no ferry code) and another is not on
// the PGP list, that word, with the list's nearest words. (With --wormhole any code is taken:
// wormhole senders may choose their own words.)
std::optional<Error> wormhole_code_typo(std::string_view code);

}  // namespace ferry::proto
