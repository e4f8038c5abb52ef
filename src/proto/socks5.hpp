// SOCKS5 (RFC 1928) CONNECT with username/password authentication (RFC 1929), as a client speaks
// it: the messages to send and the parsers of the proxy's answers. Pure codecs; net/proxy.cpp
// does the I/O.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "proto/bytes.hpp"
#include "proto/error.hpp"

namespace ferry::proto::socks5 {

enum class Method : std::uint8_t { none = 0x00, password = 0x02 };

// The greeting: version 5 and the methods offered (no authentication, and username/password
// when credentials are given).
Bytes greeting(bool with_password);
// The proxy's choice (2 bytes).
Result<Method> parse_choice(ByteView b, bool with_password);
// RFC 1929: version 1, the username and password (each 1..255 bytes).
Result<Bytes> password_request(std::string_view user, std::string_view password);
// Its answer (2 bytes): status 0 is success.
Result<void> parse_password_reply(ByteView b);

// CONNECT to host (an IP literal is sent as an address; anything else as a name, for the proxy to
// resolve) and port.
Result<Bytes> connect_request(std::string_view host, std::uint16_t port);
// How long the proxy's reply is, from its first 5 bytes (the bound address's length varies).
Result<std::size_t> reply_length(ByteView first5);
// The whole reply: success, or what the proxy said went wrong, as a sentence.
Result<void> parse_reply(ByteView b);

}  // namespace ferry::proto::socks5
