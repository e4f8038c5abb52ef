// Errors as values for every layer: a stable code (for exit statuses and JSON) and a detail
// sentence. The CLI maps codes to user-facing sentences and exit statuses; nothing here prints.
#pragma once

#include <expected>
#include <string>
#include <string_view>

namespace ferry::proto {

enum class Errc {
  usage,
  wrong_code,          // PAKE key confirmation failed
  declined,            // the receiver said no
  server_unreachable,  // could not reach the rendezvous server in time
  server_error,        // the server refused or broke the protocol
  code_unknown,        // nameplate does not exist (typo, expired, or already used)
  code_taken,          // the sender asked for a nameplate already in use
  code_used,           // a group send's code: its receivers came, or a wrong guess ended it
  peer_gone,           // the other side disconnected
  no_path,             // no pipe could be opened to the peer
  disk_full,
  io_error,
  target_exists,
  bad_offer,  // hostile or malformed names/sizes in an offer
  protocol,   // malformed message from the peer
  integrity,  // hash mismatch on a received file
  relay_refused,
  relay_limit,  // the relay ended or refused a session at one of its limits
  interrupted,
  no_sender,  // the receiver waited for a sender with its code, and none came in time
  cancelled,  // the other side's person stopped the transfer (Ctrl-C)
  version,    // the peer runs a version of ferry whose wire protocol this one does not speak
  internal,
};

struct Error {
  Errc code;
  std::string detail;
  // A path dropped full-sized packets while small ones passed (a PMTU black hole that routers
  // could not repair by fragmenting): what connects again asks for narrow TCP segments.
  bool black_hole = false;
};

template <typename T>
using Result = std::expected<T, Error>;

inline std::unexpected<Error> fail(Errc code, std::string detail = {}) {
  return std::unexpected<Error>(Error{code, std::move(detail)});
}

// Stable snake_case name used in --json output; never change an existing one.
std::string_view errc_name(Errc code);
// The inverse, for codes a peer reports; unknown names map to Errc::protocol.
Errc errc_from_name(std::string_view name);

}  // namespace ferry::proto
