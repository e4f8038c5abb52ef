// What a person (or a script, with --json) sees of a transfer: the code, the offer, the path, a
// one-line progress bar on a terminal, the result, and errors as sentences. Two observers of the
// same events: JsonConsole for scripts, TerminalConsole for people.
#pragma once

#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "proto/error.hpp"
#include "session/observer.hpp"

namespace ferry::cli {

// The base: what both outputs need to know, and the question to the person (on the terminal in
// both: --json scripts pass --yes). Console::make picks the observer for the output asked for.
class Console : public session::Observer {
 public:
  enum class Role { sender, receiver };
  static std::unique_ptr<Console> make(Role role, bool json);

  // Sender: what is being sent, for the first lines.
  void set_offer(const proto::Offer* offer) { offer_ = offer; }
  // Where received files go, as the person reads it: "/home/me/Downloads", never with a trailing
  // "/" (a sentence ending in it read "Downloads/.").
  void set_output_folder(std::string folder) {
    if (folder.size() > 1 && folder.back() == '/') folder.pop_back();
    folder_ = std::move(folder);
  }
  // Sender: print the link as a QR code too (--qr).
  void set_qr(bool qr) { qr_ = qr; }

  void ask_accept(const proto::Offer& offer, const std::vector<std::string>& existing,
                  std::function<void(session::Answer)> answer) override;
  // The failure, as one sentence for people (and, with --json, as an event).
  virtual void error(const proto::Error& e, const std::string& sentence) = 0;

 protected:
  explicit Console(Role role) : role_(role) {}
  Role role_;
  const proto::Offer* offer_ = nullptr;
  std::string folder_;
  bool qr_ = false;
};

// --json: one JSON event per line on stdout, in ASCII.
class JsonConsole final : public Console {
 public:
  explicit JsonConsole(Role role) : Console(role) {}
  void on_event(const session::Event& e) override;
  // A group send: the same events, with "receiver": N.
  void on_receiver_event(std::size_t receiver, const session::Event& e) override;
  void error(const proto::Error& e, const std::string& sentence) override;
};

// People: the code and link on stdout, what happens on stderr, a progress bar on a terminal.
class TerminalConsole final : public Console {
 public:
  explicit TerminalConsole(Role role);
  // tty: whether stderr is a terminal that shows the progress line (tests say so).
  TerminalConsole(Role role, bool tty);
  void on_event(const session::Event& e) override;
  // A group send: lines start "Receiver N: ", and one progress line shows every receiver.
  void on_receiver_event(std::size_t receiver, const session::Event& e) override;
  void error(const proto::Error& e, const std::string& sentence) override;

 private:
  std::string who() const;
  void group_line();
  void clear_progress();
  void progress(const session::event::Progress& e);
  void done(const session::event::Done& e);

  bool tty_;
  bool progress_shown_ = false;
  std::uint64_t resumed_ = 0;   // bytes a resume found already there
  bool received_text_ = false;  // the receiver got a text message
  std::size_t receiver_ = 0;    // a group send's receiver the event being told is about
  std::map<std::size_t, session::event::Progress> group_progress_;
};

// What a typed line answers at "Accept? [y/n]" (conflict: false) or at "[o]verwrite, keep both
// ([r]ename the new ones), or [c]ancel?" (conflict: true); nullopt where it answers neither (an
// empty line, a "y" at the second question): the question is asked again.
std::optional<session::Answer> interpret_answer(std::string_view line, bool conflict);

// One line: "photos/ (12 files, 1.3 GB)" or "3 items (...)".
// files, bytes: what the sender says where the entries do not tell (event::OfferReceived).
std::string summarize_offer(const proto::Offer& offer, std::optional<std::size_t> files = {},
                            std::optional<std::uint64_t> bytes = {});
// The first files, one per line, for the receiver to judge.
std::string list_offer(const proto::Offer& offer);

}  // namespace ferry::cli
