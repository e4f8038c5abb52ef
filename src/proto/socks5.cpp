#include "proto/socks5.hpp"

#include "proto/stun.hpp"

namespace ferry::proto::socks5 {

namespace {
constexpr std::uint8_t kVersion = 5;
constexpr std::uint8_t kConnect = 1;
constexpr std::uint8_t kIpv4 = 1;
constexpr std::uint8_t kName = 3;
constexpr std::uint8_t kIpv6 = 4;

Error bad(const std::string& why) {
  return {Errc::server_unreachable, "the SOCKS proxy " + why};
}

std::string_view reply_sentence(std::uint8_t code) {
  switch (code) {
    case 1:
      return "failed (general failure)";
    case 2:
      return "does not allow this connection (its rules)";
    case 3:
      return "cannot reach that network";
    case 4:
      return "cannot reach that host";
    case 5:
      return "was refused by the host (connection refused)";
    case 6:
      return "timed out (TTL expired)";
    case 7:
      return "does not support CONNECT";
    case 8:
      return "does not support that kind of address";
    default:
      return "failed (an unknown reply)";
  }
}
}  // namespace

Bytes greeting(bool with_password) {
  if (with_password) {
    return {kVersion, 2, static_cast<std::uint8_t>(Method::none),
            static_cast<std::uint8_t>(Method::password)};
  }
  return {kVersion, 1, static_cast<std::uint8_t>(Method::none)};
}

Result<Method> parse_choice(ByteView b, bool with_password) {
  if (b.size() != 2 || b[0] != kVersion) {
    return std::unexpected(bad("answered, but not as a SOCKS5 proxy"));
  }
  if (b[1] == static_cast<std::uint8_t>(Method::none)) return Method::none;
  if (b[1] == static_cast<std::uint8_t>(Method::password) && with_password) {
    return Method::password;
  }
  if (b[1] == 0xFF && !with_password) {
    return std::unexpected(
        bad("wants a username and password: put them in the proxy URL, "
            "socks5h://user:password@proxy:1080"));
  }
  if (b[1] == 0xFF) {
    return std::unexpected(
        bad("accepts none of the ways ferry can log in (no authentication, "
            "username and password)"));
  }
  return std::unexpected(bad("chose a way to log in that ferry did not offer"));
}

Result<Bytes> password_request(std::string_view user, std::string_view password) {
  if (user.empty() || user.size() > 255 || password.size() > 255) {
    return fail(Errc::usage,
                "a SOCKS username must have 1 to 255 bytes, and a password at most 255");
  }
  Bytes out{1, static_cast<std::uint8_t>(user.size())};
  append(out, as_bytes(user));
  out.push_back(static_cast<std::uint8_t>(password.size()));
  append(out, as_bytes(password));
  return out;
}

Result<void> parse_password_reply(ByteView b) {
  if (b.size() != 2 || b[0] != 1) return std::unexpected(bad("answered the login oddly"));
  if (b[1] != 0) {
    return std::unexpected(bad("did not accept the username and password in the proxy URL"));
  }
  return {};
}

Result<Bytes> connect_request(std::string_view host, std::uint16_t port) {
  Bytes out{kVersion, kConnect, 0};
  if (auto ip = parse_ip(host)) {
    out.push_back(ip->size() == 4 ? kIpv4 : kIpv6);
    append(out, *ip);
  } else {
    if (host.empty() || host.size() > 255) {
      return fail(Errc::usage, "a host name for a SOCKS proxy has 1 to 255 bytes");
    }
    out.push_back(kName);
    out.push_back(static_cast<std::uint8_t>(host.size()));
    append(out, as_bytes(host));
  }
  append_u16(out, port);
  return out;
}

Result<std::size_t> reply_length(ByteView first5) {
  if (first5.size() < 5 || first5[0] != kVersion) {
    return std::unexpected(bad("answered CONNECT, but not as a SOCKS5 proxy"));
  }
  switch (first5[3]) {
    case kIpv4:
      return 4 + 4 + 2;
    case kIpv6:
      return 4 + 16 + 2;
    case kName:
      return 4 + 1 + std::size_t{first5[4]} + 2;
    default:
      // A failure may come with no usable address; its code is still in byte 1.
      if (first5[1] != 0) return std::size_t{5};
      return std::unexpected(bad("answered CONNECT with an unknown kind of address"));
  }
}

Result<void> parse_reply(ByteView b) {
  if (b.size() < 5 || b[0] != kVersion) {
    return std::unexpected(bad("answered CONNECT, but not as a SOCKS5 proxy"));
  }
  if (b[1] != 0) return std::unexpected(bad(std::string(reply_sentence(b[1]))));
  auto n = reply_length(b.subspan(0, 5));
  if (!n) return std::unexpected(n.error());
  if (b.size() != *n) return std::unexpected(bad("answered CONNECT with a malformed reply"));
  return {};
}

}  // namespace ferry::proto::socks5
