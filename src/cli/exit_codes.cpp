#include "cli/exit_codes.hpp"

#include <iostream>

namespace ferry::cli {

using proto::Errc;

int exit_status(Errc code) {
  switch (code) {
    case Errc::usage:
      return 2;
    case Errc::wrong_code:
      return 3;
    case Errc::declined:
    case Errc::cancelled:
      return 4;
    case Errc::server_unreachable:
    case Errc::server_error:
      return 5;
    case Errc::code_unknown:
    case Errc::code_used:
    case Errc::code_taken:
    case Errc::no_sender:
      return 6;
    case Errc::peer_gone:
      return 7;
    case Errc::no_path:
    case Errc::relay_refused:
      return 8;
    case Errc::disk_full:
    case Errc::io_error:
      return 9;
    case Errc::target_exists:
      return 10;
    case Errc::bad_offer:
    case Errc::protocol:
    case Errc::integrity:
    case Errc::version:
      return 11;
    case Errc::relay_limit:
      return 12;
    case Errc::interrupted:
      return 130;
    case Errc::internal:
      return 1;
  }
  return 1;
}

std::string explain(const proto::Error& e) {
  switch (e.code) {
    case Errc::server_unreachable:
      return "could not reach the ferry server (" + e.detail +
             "). Check the address (--server, FERRY_SERVER) and your connection.";
    case Errc::code_unknown:
      return "that code is not waiting on the server: it was mistyped, has expired, or was "
             "already used (each code allows one try). Ask the sender for a new one.";
    case Errc::no_sender:
      return e.detail + ". Check the code's number with the sender; --wait sets how long to wait.";
    case Errc::code_taken:
      return "the number at the start of that code is in use right now; choose another --code.";
    case Errc::wrong_code:
      // What was (or was not) sent depends on the mode: the detail says it (a group send has
      // sent to those whose code was right).
      return e.detail + (e.detail.ends_with("new code") ? "." : ". Start again with a new code.");
    case Errc::code_used:
      return e.detail + ". Ask the sender for a new code.";
    case Errc::no_path:
      return e.detail +
             "\nNext: run `ferry doctor` on both computers to see what each network blocks. A "
             "server with a working relay gets through any network that allows web traffic.";
    case Errc::version:
      return e.detail +
             "\nNext: update ferry on the computer with the older version (`ferry --version` "
             "on each), then start again.";
    case Errc::relay_limit:
      return e.detail +
             "\nNext: ask the server's operator about its limits, or try where a "
             "direct path works (`ferry doctor` shows why it did not).";
    default:
      return e.detail;
  }
}

int usage_error(const std::string& sentence) {
  std::cerr << "ferry: " << sentence << "\n";
  return exit_status(proto::Errc::usage);
}

}  // namespace ferry::cli
