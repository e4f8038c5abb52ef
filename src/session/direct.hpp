// Serverless transfers (ferry send --direct): no rendezvous, no relay. The sender listens, asks its
// router to map the port (UPnP-IGD, NAT-PMP), and prints a code holding its addresses and a
// 128-bit secret (proto/direct_code.hpp). The receiver dials every address at once; the PAKE runs
// over the first connection, which then carries the transfer. Works on one LAN, or from anywhere
// when the sender's router maps a port.
#pragma once

#include "proto/direct_code.hpp"
#include "session/transfer.hpp"

namespace ferry::session {

net::awaitable<proto::Result<void>> send_direct(const FileSource& source, Observer& observer,
                                                Cancellation* cancellation);
// No server configured (or --lan): the sender answers LAN discovery for its short code's number
// (proto/lan_discovery.hpp) and gives up after one wrong guess; the receiver finds it by the
// number and runs the PAKE with the words.
net::awaitable<proto::Result<void>> send_lan(const FileSource& source,
                                             std::optional<proto::Secret> code, Observer& observer,
                                             Cancellation* cancellation);
net::awaitable<proto::Result<void>> receive_lan(proto::Secret secret, ReceiveOptions options,
                                                Observer& observer);
net::awaitable<proto::Result<void>> receive_direct(proto::DirectCode code, ReceiveOptions options,
                                                   Observer& observer);

}  // namespace ferry::session
