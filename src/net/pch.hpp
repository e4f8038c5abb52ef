// What most files of net/, session/, server/ and cli/ spend their compile time parsing: Asio,
// Beast (HTTP, WebSocket, TLS) and the standard headers around them. Precompiled once per target
// in the g++ builds (CMakeLists.txt: ferry_precompile); never included by hand.
#pragma once

#include "net/asio.hpp"

#include <boost/asio/ip/udp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>
