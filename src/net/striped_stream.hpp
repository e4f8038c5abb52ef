// Wide TCP's stream (proto/stripe.hpp): one byte stream over several TCP connections to the same
// peer, their preambles already exchanged. Each write is cut into frames that whichever
// connection has room takes (each connection keeps little unsent: TCP_NOTSENT_LOWAT), and
// returns once the kernel has them all, as on one socket; the far end's frames are put back in
// order within a bound, a connection whose frames run ahead waiting (and its TCP window with it).
// Any connection's failure fails the stream; the stream ends when every connection has ended.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "net/byte_stream.hpp"

namespace ferry::net {

// What the frames held in order or out of order at the receiving end may cost, at most (plus a
// frame per member; proto::stripe::Reassembler counts each frame's overhead): before the peer
// has authenticated (ByteStream::authenticated), and after. Before, the stream carries only the
// record layer's hellos; anyone who reaches a listening port can open a group.
inline constexpr std::size_t kStripeUnauthenticatedLimit = std::size_t{256} << 10;
inline constexpr std::size_t kStripeReorderLimit = std::size_t{16} << 20;

std::unique_ptr<ByteStream> striped_stream(std::vector<tcp::socket> members, std::string where);

}  // namespace ferry::net
