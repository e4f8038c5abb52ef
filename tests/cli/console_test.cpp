// The terminal console: what a person sees on stderr, a line at a time, the progress bar redrawn
// in place and never run into by another line.
#include "cli/console.hpp"

#include <gtest/gtest.h>

#include <iostream>
#include <sstream>

namespace ferry::cli {
namespace {

namespace event = session::event;

// What the console wrote to stderr while f ran.
template <typename F>
std::string stderr_of(F f) {
  std::ostringstream out;
  auto* old = std::cerr.rdbuf(out.rdbuf());
  f();
  std::cerr.rdbuf(old);
  return out.str();
}

TEST(TerminalConsole, ANoteDuringProgressStartsOnALineOfItsOwn) {
  TerminalConsole console(Console::Role::sender, true);
  const std::string text = stderr_of([&] {
    console.on_event(event::Progress{.bytes = 29, .total = 100, .seconds = 1.0});
    console.on_event(event::Note{"Trying quic beside tcp"});
    console.on_event(event::Connected{.path = proto::PathKind::direct,
                                      .transport = proto::PipeTransport::quic,
                                      .peer = "192.0.2.7:4000",
                                      .moved = true});
    console.on_event(event::Progress{.bytes = 60, .total = 100, .seconds = 2.0});
  });
  // The bar is erased ("\r" + erase to the end of the line) before each line that follows it.
  EXPECT_NE(text.find("ETA"), std::string::npos) << text;
  EXPECT_NE(text.find("\r\033[KTrying quic beside tcp\n"), std::string::npos) << text;
  EXPECT_NE(text.find("\nMoved to a better path ("), std::string::npos) << text;
  EXPECT_EQ(text.find("sTrying"), std::string::npos) << text;
  EXPECT_EQ(text.find("sMoved"), std::string::npos) << text;
}

TEST(TerminalConsole, WithoutATerminalThereIsNoBarToErase) {
  TerminalConsole console(Console::Role::receiver, false);
  const std::string text = stderr_of([&] {
    console.on_event(event::Progress{.bytes = 29, .total = 100, .seconds = 1.0});
    console.on_event(event::Note{"a note"});
  });
  EXPECT_EQ(text, "a note\n");
}

TEST(TerminalConsole, TheFolderFilesWereSavedInEndsTheSentenceCleanly) {
  TerminalConsole console(Console::Role::receiver, false);
  console.set_output_folder("/home/me/Downloads/");  // as the current folder's absolute path is
  const std::string text = stderr_of(
      [&] { console.on_event(event::Done{.bytes = 10, .total = 10, .seconds = 1.0, .files = 2}); });
  EXPECT_NE(text.find("saved in /home/me/Downloads.\n"), std::string::npos) << text;
}

TEST(TerminalConsole, AFolderSentAsAZipIsSummarisedByWhatTheSenderSaid) {
  TerminalConsole console(Console::Role::receiver, false);
  proto::Offer shown;
  shown.entries.push_back({"album", proto::OfferEntry::Kind::directory, 0, false});
  const std::string text = stderr_of([&] {
    console.on_event(event::OfferReceived{&shown, 4, 307700});
    console.on_event(event::Done{.bytes = 307700, .total = 307700, .seconds = 0.0, .files = 4});
  });
  EXPECT_NE(text.find("Offered: album/ (4 files, 307.7 kB)"), std::string::npos) << text;
  // Too quick to time: no rate, and no stray ", " where it would have been.
  EXPECT_NE(text.find("in 0.0 s; every file verified"), std::string::npos) << text;
}

// Enter alone, or a "y" where o, r or c is asked, answers nothing: the question comes again
// instead of a decline that would use the code up.
TEST(InterpretAnswer, OnlyAClearAnswerCounts) {
  using session::Answer;
  EXPECT_EQ(interpret_answer("y", false), Answer::accept);
  EXPECT_EQ(interpret_answer(" Yes \r", false), Answer::accept);
  EXPECT_EQ(interpret_answer("n", false), Answer::decline);
  EXPECT_EQ(interpret_answer("NO", false), Answer::decline);
  EXPECT_EQ(interpret_answer("", false), std::nullopt);
  EXPECT_EQ(interpret_answer("o", false), std::nullopt);
  EXPECT_EQ(interpret_answer("o", true), Answer::overwrite);
  EXPECT_EQ(interpret_answer("Overwrite", true), Answer::overwrite);
  EXPECT_EQ(interpret_answer("r", true), Answer::rename);
  EXPECT_EQ(interpret_answer("keep both", true), Answer::rename);
  EXPECT_EQ(interpret_answer("c", true), Answer::decline);
  EXPECT_EQ(interpret_answer("y", true), std::nullopt);
  EXPECT_EQ(interpret_answer("", true), std::nullopt);
}

}  // namespace
}  // namespace ferry::cli
