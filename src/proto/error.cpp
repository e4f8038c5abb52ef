#include "proto/error.hpp"

namespace ferry::proto {

std::string_view errc_name(Errc code) {
  switch (code) {
    case Errc::usage:
      return "usage";
    case Errc::wrong_code:
      return "wrong_code";
    case Errc::declined:
      return "declined";
    case Errc::server_unreachable:
      return "server_unreachable";
    case Errc::server_error:
      return "server_error";
    case Errc::code_unknown:
      return "code_unknown";
    case Errc::code_used:
      return "code_used";
    case Errc::code_taken:
      return "code_taken";
    case Errc::peer_gone:
      return "peer_gone";
    case Errc::no_path:
      return "no_path";
    case Errc::disk_full:
      return "disk_full";
    case Errc::io_error:
      return "io_error";
    case Errc::target_exists:
      return "target_exists";
    case Errc::bad_offer:
      return "bad_offer";
    case Errc::protocol:
      return "protocol";
    case Errc::integrity:
      return "integrity";
    case Errc::relay_refused:
      return "relay_refused";
    case Errc::relay_limit:
      return "relay_limit";
    case Errc::interrupted:
      return "interrupted";
    case Errc::no_sender:
      return "no_sender";
    case Errc::cancelled:
      return "cancelled";
    case Errc::version:
      return "version";
    case Errc::internal:
      return "internal";
  }
  return "internal";
}

Errc errc_from_name(std::string_view name) {
  for (int c = 0; c <= static_cast<int>(Errc::internal); ++c) {
    if (errc_name(static_cast<Errc>(c)) == name) return static_cast<Errc>(c);
  }
  return Errc::protocol;
}

}  // namespace ferry::proto
