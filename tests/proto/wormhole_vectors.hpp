// The vectors tests/proto/wormhole_vectors.py printed from magic-wormhole's own code.
#pragma once

#include <fstream>
#include <string>

#include <nlohmann/json.hpp>

#include "proto/bytes.hpp"

namespace ferry::proto::test {

inline const nlohmann::json& wormhole_vectors() {
  static const nlohmann::json v = [] {
    std::ifstream in(std::string(FERRY_TEST_DATA_DIR) + "/wormhole_vectors.json");
    return nlohmann::json::parse(in);
  }();
  return v;
}

inline Bytes vector_bytes(const nlohmann::json& j) {
  return *from_hex(j.get<std::string>());
}

template <std::size_t N>
std::array<std::uint8_t, N> vector_array(const nlohmann::json& j) {
  const Bytes b = vector_bytes(j);
  std::array<std::uint8_t, N> a{};
  std::copy(b.begin(), b.end(), a.begin());
  return a;
}

}  // namespace ferry::proto::test
