// libFuzzer entry point: build with clang -fsanitize=fuzzer and -DFERRY_FUZZ_TARGET=<index>.
// (Debian 12's clang 14 cannot compile libstdc++ 12's <expected>, so CI uses smoke_driver.cpp.)
#include "targets.hpp"

#ifndef FERRY_FUZZ_TARGET
#define FERRY_FUZZ_TARGET 0
#endif

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  return ferry::fuzz::targets()[FERRY_FUZZ_TARGET].run(data, size);
}
