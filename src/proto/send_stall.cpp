#include "proto/send_stall.hpp"

namespace ferry::proto {

SendStall::Action SendStall::observe(const SendSample& s,
                                     std::chrono::steady_clock::time_point now) {
  const bool progress = !seen_ || s.bytes_acked != acked_;
  seen_ = true;
  acked_ = s.bytes_acked;
  if (progress || s.unacked == 0) {
    moving_ = now;
    return Action::none;
  }
  // A timeout fired and no acknowledgement came between two looks: a lost packet is repaired by
  // the first retransmission, so one that stays unacknowledged is what the path will not carry.
  // Letting routers fragment costs nothing on a path whose MTU fits (nothing is fragmented).
  if (s.timeouts >= 1 && !allowed_) {
    allowed_ = true;
    return Action::allow_fragments;
  }
  if (refused_ && s.timeouts >= kBlackHoleTimeouts && !given_up_) {
    given_up_ = true;
    black_hole_ = true;
    return Action::give_up;
  }
  if (now - moving_ >= kGiveUp && !given_up_) {
    given_up_ = true;
    return Action::give_up;
  }
  return Action::none;
}

std::chrono::steady_clock::duration SendStall::stalled_for(
    std::chrono::steady_clock::time_point now) const {
  return seen_ ? now - moving_ : std::chrono::steady_clock::duration::zero();
}

Error stall_error(const std::string& what, bool black_hole) {
  if (black_hole) {
    return {Errc::peer_gone,
            what +
                " stopped moving data: full-sized packets vanish on the path while small ones "
                "pass (a PMTU black hole)",
            true};
  }
  return {Errc::peer_gone, what + " stopped moving data: nothing was acknowledged for " +
                               std::to_string(SendStall::kGiveUp.count()) +
                               " s (the path to the other side broke)"};
}

}  // namespace ferry::proto
