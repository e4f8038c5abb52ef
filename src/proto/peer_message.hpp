// What the two peers say to each other through the rendezvous mailbox: the CPace shares and key
// confirmation (in the clear: they reveal nothing about the code), then, sealed under the session
// keys, each side's connection candidates.
#pragma once

#include <optional>
#include <variant>

#include "proto/code.hpp"
#include "proto/cpace.hpp"
#include "proto/key_schedule.hpp"

namespace ferry::proto {

// Receiver -> sender, first: which secret it holds, and its CPace share.
struct ReceiverPake {
  SecretKind kind = SecretKind::words;
  CpacePoint share{};
};
// Sender -> receiver: its share and its key confirmation.
struct SenderPake {
  CpacePoint share{};
  Key confirm{};
};

// Every PAKE message starts with the wire protocol's version. A side whose peer's message names
// another version (an older or newer ferry) answers with a version notice (0 || its version)
// instead of its own PAKE message, and both stop with Errc::version, saying which versions met:
// a person is told to update, rather than seeing a pairing fail for no reason they can see. The
// notice says nothing about the code.
inline constexpr std::uint8_t kWireVersion = 1;
Bytes encode_version_notice();
bool is_version_notice(ByteView b);

Bytes encode(const ReceiverPake& m);
Bytes encode(const SenderPake& m);
// Errc::version for a message of another version, or the peer's version notice.
Result<ReceiverPake> decode_receiver_pake(ByteView b);
Result<SenderPake> decode_sender_pake(ByteView b);
Result<Key> decode_confirm(ByteView b);

// The transcript both confirmation tags cover: session id and both shares.
Bytes confirmation_transcript(ByteView session_id, const CpacePoint& sender_share,
                              const CpacePoint& receiver_share);

// How a candidate is reached: TCP, or UDP (hole punching, then QUIC on the punched socket).
enum class Transport : std::uint8_t { tcp, udp };
// "host": an address of the peer's own interfaces; "srflx": its public address as the server saw
// it, with its listening port (reached by TCP simultaneous open through cone NATs); "mapped": a
// public port its router forwards to it (UPnP-IGD, NAT-PMP, PCP), sent in a later note.
enum class CandidateKind : std::uint8_t { host, srflx, mapped };
// The names on the wire (and in notes for people); from_name: nullopt for a name from a newer peer.
std::string_view transport_name(Transport t);
std::string_view candidate_kind_name(CandidateKind k);
std::optional<Transport> transport_from_name(std::string_view name);
std::optional<CandidateKind> candidate_kind_from_name(std::string_view name);

// Where a peer can be reached.
struct Candidate {
  Transport transport = Transport::tcp;
  std::string address;  // IPv4 or IPv6 literal
  std::uint16_t port = 0;
  CandidateKind kind = CandidateKind::host;
};
// "tcp 192.0.2.1:4000", "udp [2001:db8::1]:5": how notes for people name a candidate.
std::string candidate_text(const Candidate& c);

bool is_ip_literal(const std::string& s);

// How this side's NAT maps its UDP socket, as its two STUN answers showed.
enum class UdpMapping { unknown, independent, dependent };

// What a build can do beyond the first version of the pipe protocol, named in its candidates
// note ("features": [...]). A feature is used only when both notes name it: older peers, the
// browser page and the serverless modes (no note) name none, and names this build does not know
// are ignored.
struct Features {
  // A file end's hash covers only the resumed prefix ([0, accepted offset)), not the bytes sent
  // now: those are already authenticated by the record layer (numbered AEAD records, a final
  // tag, and chunks the receiver checks are contiguous), so hashing them again only costs CPU.
  bool prefix_hash = false;
  // Records under AES-256-GCM instead of XChaCha20-Poly1305 (proto/record.hpp): named only by a
  // side whose CPU has hardware AES, where it costs about a third less per byte.
  bool aes256gcm = false;
  // When a TCP and a QUIC direct pipe both open, the sender may try the second during the
  // transfer and move back ("moved" on each): the receiver keeps the pipe it moved away from open
  // and reads it again when the sender moves back (proto/pipe_choice.hpp).
  bool pipe_trial = false;
  // The relay over UDP (proto/relay_udp.hpp): both sides bind at the relay's UDP port and run QUIC
  // through it beside the TCP relay; with pipe_trial the transfer keeps whichever relay pipe moves
  // more. A side that names it understands Moved::back.
  bool relay_udp = false;
  // Wide TCP (proto/stripe.hpp): a direct TCP pipe dialled over a long path may be several
  // connections, each opening with a member's preamble; the side that accepts groups them.
  bool wide_tcp = false;
  // WebRTC (net/webrtc.hpp): this side answers a browser page's data channel offer (a
  // WebRtcSignal after the notes, from a page whose note says webrtc_offer); the channel becomes
  // a direct pipe like any other. The page offers only to a peer that names it.
  bool webrtc = false;
  // After a break past its accept this side claims the code again and continues from its part
  // files (a CLI receiver) or its open download (a page): only then does a sender wait for its
  // return.
  bool comeback = false;
  friend bool operator==(const Features&, const Features&) = default;
};
// Everything this build supports on this machine.
Features our_features();
// What both sides may use.
Features common(const Features& a, const Features& b);

struct Candidates {
  std::vector<Candidate> list;
  bool relay = true;  // whether this side will also try the relay
  UdpMapping udp_mapping = UdpMapping::unknown;
  // SHA-256 of the QUIC server's ephemeral certificate (the sender's), pinned by the QUIC client.
  Bytes quic_fingerprint;
  Features features;
  // The sender's TCP runs a loss-based congestion control (CUBIC, Reno: BBR is not allowed to it),
  // which a long lossy path takes to a few percent of its rate: the receiver gives a QUIC pipe
  // a moment to open before it selects a TCP one (proto/race.hpp).
  bool tcp_loss_based = false;
  // A browser page: its WebRTC offer follows this note (to a peer that names Features::webrtc).
  bool webrtc_offer = false;
};

// Either side may give up (no path, declined before connecting) and tell the other why.
struct PeerAbort {
  std::string code;  // an errc_name
  std::string message;
};

// A WebRTC session description after the notes: the page's offer, this side's answer
// (proto/webrtc_sdp.hpp). Sealed like every note, so the fingerprints in it are the peers' own.
struct WebRtcSignal {
  std::string sdp;
};
using MailboxNote = std::variant<Candidates, PeerAbort, WebRtcSignal>;

std::string encode_note(const MailboxNote& note);
Result<MailboxNote> decode_note(std::string_view json);

}  // namespace ferry::proto
