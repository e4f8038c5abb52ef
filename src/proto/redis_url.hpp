// Where `ferry serve --redis URL` keeps a cluster's shared state: redis://[[user]:password@]host
// [:port][/db], or rediss:// for TLS. Pure parsing, so a bad URL is a start-up error, and the
// password never reaches a log (to_string() leaves it out).
#pragma once

#include <cstdint>
#include <string>

#include "proto/error.hpp"

namespace ferry::proto {

struct RedisUrl {
  bool tls = false;
  std::string host;  // without brackets for IPv6
  std::uint16_t port = 6379;
  std::string username;  // empty: AUTH with the password alone (the "default" user)
  std::string password;  // empty: no AUTH
  unsigned db = 0;

  // redis[s]://host:port/db, with "***" in place of any credentials.
  std::string to_string() const;
};

Result<RedisUrl> parse_redis_url(std::string_view text);

}  // namespace ferry::proto
