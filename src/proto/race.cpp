#include "proto/race.hpp"

#include <algorithm>

namespace ferry::proto {

std::string_view path_kind_name(PathKind k) {
  return k == PathKind::direct ? "direct" : "relay";
}

std::string_view pipe_transport_name(PipeTransport t) {
  switch (t) {
    case PipeTransport::tcp:
      return "tcp";
    case PipeTransport::quic:
      return "quic";
    case PipeTransport::webrtc:
      return "webrtc";
  }
  return "tcp";
}

std::string format_tried(std::string_view heading, const std::vector<Tried>& tried) {
  std::string out(heading);
  for (const auto& t : tried) out += "\n  - " + t.what + (t.why.empty() ? "" : ": " + t.why);
  return out;
}

Race::Race(Side side, std::chrono::milliseconds upgrade_window)
    : side_(side), upgrade_window_(upgrade_window) {}

void Race::set_budget(Clock::time_point now, std::chrono::milliseconds budget) {
  deadline_ = now + budget;
  budget_ = budget;
}

void Race::plan_relay(Clock::time_point at) {
  relay_at_ = at;
}

AttemptId Race::begin(PathKind path, bool dialled, PipeTransport transport) {
  const AttemptId id = next_id_++;
  attempts_.emplace(id, Attempt{path, dialled, transport});
  return id;
}

void Race::connected(AttemptId id) {
  auto& a = attempts_.at(id);
  if (a.state == State::running) a.state = State::connected;
}

void Race::joined(AttemptId id) {
  if (winner_ == id || is_upgrade(id)) return;
  std::erase_if(held_, [id](const Held& h) { return h.id == id; });
  attempts_.erase(id);
}

int Race::pending(PathKind path, std::optional<PipeTransport> transport) const {
  return static_cast<int>(std::count_if(attempts_.begin(), attempts_.end(), [&](const auto& kv) {
    return kv.second.dialled && kv.second.path == path &&
           (!transport || kv.second.transport == *transport) && kv.second.state != State::done;
  }));
}

bool Race::upgrades_winner(const Attempt& a) const {
  if (!winner_) return false;
  const auto& w = attempts_.at(*winner_);
  if (w.path == PathKind::relay && a.path == PathKind::direct) return true;
  return trial_ && !trial_taken_ && a.path == w.path && a.transport != w.transport;
}

bool Race::is_upgrade(AttemptId id) const {
  return std::find(upgrades_.begin(), upgrades_.end(), id) != upgrades_.end();
}

int Race::pending() const {
  const bool relay_planned = relay_at_.has_value() && !relay_started_;
  return pending(PathKind::direct) + pending(PathKind::relay) + (relay_planned ? 1 : 0);
}

bool Race::may_upgrade(const Attempt& a) const {
  // Also in the moment between the win and the next advance() (the winner's "select" still being
  // written): a pipe of the other transport that authenticates then is no less a trial.
  return winner_ && phase_ != Phase::over && upgrade_window_.count() > 0 && upgrades_winner(a);
}

Race::Verdict Race::authenticated(AttemptId id, const std::string& what, Clock::time_point now,
                                  std::chrono::milliseconds rtt) {
  const auto& a = attempts_.at(id);
  if (phase_ == Phase::over) {
    failed(id, {what, "another path won"});
    return Verdict::close;
  }
  if (winner_ && !may_upgrade(a)) {
    const bool after_relay = attempts_.at(*winner_).path == PathKind::relay;
    failed(id, {what, after_relay ? "not better than the relay" : "another path won"});
    return Verdict::close;
  }
  if (winner_ && side_ == Side::receiver && quic_kept_over(a, rtt)) {
    failed(id, {what, std::string(kQuicKept)});
    return Verdict::close;
  }
  if (side_ == Side::sender) return Verdict::wait;
  if (should_hold(a, rtt)) {
    if (held_.empty()) hold_until_ = now + std::clamp(kHoldRtts * rtt, kHoldMin, kHoldMax);
    held_.push_back({id, what});
    return Verdict::hold;
  }
  // Claim the win before saying "select": a second pipe must never send one too, or the sender
  // could take a pipe about to be closed.
  claim(id);
  return Verdict::select;
}

Race::Verdict Race::selected(AttemptId id, const std::string& what, bool upgrade) {
  const auto& a = attempts_.at(id);
  // With a winner, a select is for a pipe to move to (tagged or not: whether or not the race has
  // moved on to upgrading yet); without one, an untagged select makes the winner (a tagged one
  // waited for the winner's: none means the race is over).
  const bool open = winner_ ? may_upgrade(a) : phase_ == Phase::racing && !upgrade;
  if (!open) {
    failed(id, {what, "not selected"});
    return Verdict::close;
  }
  claim(id);
  return Verdict::take;
}

bool Race::loss_based_on_long_path(const Attempt& a, std::chrono::milliseconds rtt) const {
  return prefer_quic_ && trial_ && a.transport == PipeTransport::tcp && rtt >= kLongRtt;
}

bool Race::should_hold(const Attempt& a, std::chrono::milliseconds rtt) const {
  return loss_based_on_long_path(a, rtt) && !winner_ && phase_ == Phase::racing &&
         pending(a.path, PipeTransport::quic) > 0;
}

bool Race::quic_won_path_of(const Attempt& a) const {
  const auto& w = attempts_.at(*winner_);
  return w.transport == PipeTransport::quic && w.path == a.path;
}

bool Race::quic_kept_over(const Attempt& a, std::chrono::milliseconds rtt) const {
  return loss_based_on_long_path(a, rtt) && quic_won_path_of(a);
}

void Race::resolve_held(Clock::time_point now) {
  if (held_.empty()) return;
  if (!winner_ && phase_ == Phase::racing) {
    const bool quic_pending = std::any_of(held_.begin(), held_.end(), [&](const Held& h) {
      return pending(attempts_.at(h.id).path, PipeTransport::quic) > 0;
    });
    if (quic_pending && now < hold_until_ && now < deadline_) return;
    claim(held_.front().id);
    released_.emplace_back(held_.front().id, Verdict::select);
    held_.erase(held_.begin());
  }
  // Claiming one may end the race: decide on the others from a copy.
  const auto rest = std::exchange(held_, {});
  for (const auto& h : rest) {
    const auto& a = attempts_.at(h.id);
    if (quic_won_path_of(a)) {
      // QUIC won where this pipe waited for it: no trial (see kQuicKept).
      failed(h.id, {h.what, std::string(kQuicKept)});
      released_.emplace_back(h.id, Verdict::close);
    } else if (may_upgrade(a)) {
      claim(h.id);
      released_.emplace_back(h.id, Verdict::select);
    } else {
      failed(h.id, {h.what, "another path won"});
      released_.emplace_back(h.id, Verdict::close);
    }
  }
}

void Race::claim(AttemptId id) {
  if (winner_) return claim_upgrade(id);
  attempts_.at(id).state = State::done;
  winner_ = id;
}

void Race::claim_upgrade(AttemptId id) {
  attempts_.at(id).state = State::done;
  upgrades_.push_back(id);
  const auto& w = attempts_.at(*winner_);
  const bool trial = attempts_.at(id).path == w.path;
  trial_taken_ = trial_taken_ || trial;
  // A direct pipe is all the transfer needs; after a trial on the relay, direct attempts still
  // running may yet take it off the relay.
  if (!trial || w.path != PathKind::relay || pending(PathKind::direct) == 0) stop();
}

void Race::select_failed(AttemptId id, const Tried& line) {
  if (is_upgrade(id)) {
    std::erase(upgrades_, id);
    return;
  }
  if (winner_ != id) return;
  winner_.reset();
  failure_ = Error{Errc::no_path, line.what + ": " + line.why};
  stop();
}

void Race::failed(AttemptId id, Tried line) {
  attempts_.at(id).state = State::done;
  tried_.push_back(std::move(line));
}

void Race::peer_failed(Error error) {
  // After a pipe won, the mailbox closing (or the peer leaving it) ends nothing: upgrades go on.
  if (phase_ != Phase::racing || winner_) return;
  failure_ = std::move(error);
  stop();
}

void Race::stop() {
  phase_ = Phase::over;
  upgrade_until_.reset();
  for (const auto& h : std::exchange(held_, {})) {
    failed(h.id, {h.what, winner_ ? "another path won" : "the race ended"});
    released_.emplace_back(h.id, Verdict::close);
  }
}

bool Race::direct_authenticating() const {
  return std::any_of(attempts_.begin(), attempts_.end(), [](const auto& kv) {
    return kv.second.path == PathKind::direct && kv.second.state == State::connected;
  });
}

bool Race::start_relay_due(Clock::time_point now) {
  if (!relay_at_ || relay_started_ || phase_ != Phase::racing || winner_ || now < *relay_at_) {
    return false;
  }
  if (direct_authenticating() && now < *relay_at_ + kRelayHoldMax) return false;
  relay_started_ = true;
  return true;
}

Race::Phase Race::advance(Clock::time_point now) {
  resolve_held(now);
  if (phase_ == Phase::racing) {
    if (winner_) {
      const auto& w = attempts_.at(*winner_);
      const PipeTransport other =
          w.transport == PipeTransport::tcp ? PipeTransport::quic : PipeTransport::tcp;
      const bool relay_won = w.path == PathKind::relay;
      const bool worth_waiting =
          (relay_won && pending(PathKind::direct) > 0) || (trial_ && pending(w.path, other) > 0);
      if (worth_waiting && upgrade_window_.count() > 0) {
        // Direct attempts still running may yet open: the transfer starts on the relay (or the
        // first transport) and moves (or tries the other).
        phase_ = Phase::upgrading;
        upgrade_until_ = now + upgrade_window_;
      } else {
        stop();
      }
    } else if (now >= deadline_ || (pending() == 0 && !listening_)) {
      stop();
    }
  }
  if (phase_ == Phase::upgrading && upgrade_until_ && now >= *upgrade_until_) stop();
  return phase_;
}

Race::Clock::time_point Race::next_wakeup() const {
  if (phase_ == Phase::over) return Clock::time_point::max();
  if (phase_ == Phase::upgrading) return upgrade_until_.value_or(Clock::time_point::max());
  auto t = deadline_;
  if (!held_.empty() && !winner_) t = std::min(t, hold_until_);
  if (relay_at_ && !relay_started_ && !winner_) {
    t = std::min(t, direct_authenticating() ? *relay_at_ + kRelayHoldMax : *relay_at_);
  }
  return t;
}

Error Race::failure() const {
  if (failure_) {
    Error e = *failure_;
    // The peer's list first (in its message), then ours.
    if (e.code == Errc::no_path && !tried_.empty())
      e.detail += "\n" + format_tried("This side tried:", tried_);
    return e;
  }
  std::string detail =
      format_tried("no connection to the other side could be opened. Tried:", tried_);
  if (pending() > 0) {
    detail += "\n  - (still trying after " + std::to_string(budget_.count() / 1000) + " s)";
  }
  return Error{Errc::no_path, detail};
}

}  // namespace ferry::proto
