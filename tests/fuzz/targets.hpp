// Fuzz targets for every parser of bytes from the network or the disk. Each is a plain function so
// that one build can drive them all; with FERRY_LIBFUZZER a file becomes a libFuzzer entry point.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>
#include <vector>

namespace ferry::fuzz {

struct Target {
  std::string_view name;
  int (*run)(const std::uint8_t* data, std::size_t size);
  std::vector<std::vector<std::uint8_t>> (*seeds)();
};

const std::vector<Target>& targets();

}  // namespace ferry::fuzz
