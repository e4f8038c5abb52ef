// The server's log for its operator: one line per event (a session allocated, paired, relayed; a
// connection refused or cut at a deadline, and why), to stderr so journald keeps it, as text
// (`time level event key=value ...`) or one JSON object a line. Values from clients (an Origin
// header, an address) are escaped, never printed raw; codes, keys and file names are never logged.
// Floods are summarised: a throttled event is written at most once a second per key, with how
// many were held back.
#pragma once

#include <initializer_list>
#include <string_view>
#include <utility>

#include <spdlog/common.h>
#include <nlohmann/json.hpp>

namespace ferry::server {

enum class LogFormat { text, json };

// Sets the level and format of the process's server log (stderr).
void configure_server_log(spdlog::level::level_enum level, LogFormat format);

using LogField = std::pair<std::string_view, nlohmann::json>;

void log_event(spdlog::level::level_enum level, std::string_view event,
               std::initializer_list<LogField> fields);
// The same, at most once a second for each key (e.g. "refused/address_connections"); the line
// written carries `held_back` for the events not written since the last one.
void log_throttled(std::string_view key, spdlog::level::level_enum level, std::string_view event,
                   std::initializer_list<LogField> fields);

// One line of the text or JSON format, without time and level (what the tests check).
std::string format_log_fields(LogFormat format, std::string_view event,
                              std::initializer_list<LogField> fields);

}  // namespace ferry::server
