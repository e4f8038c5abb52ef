#include "cli/qr.hpp"

#include <qrencode.h>

#include <memory>

namespace ferry::cli {

std::string qr_text(std::string_view data) {
  const std::string text(data);
  std::unique_ptr<QRcode, decltype(&QRcode_free)> code(
      QRcode_encodeString(text.c_str(), 0, QR_ECLEVEL_M, QR_MODE_8, 1), &QRcode_free);
  if (!code) return {};
  constexpr int kQuiet = 2;
  const int width = code->width;
  const int size = width + 2 * kQuiet;
  // Light (drawn) outside the code and where a module is light; bit 0 of a module is "dark".
  const auto light = [&](int x, int y) {
    x -= kQuiet;
    y -= kQuiet;
    if (x < 0 || y < 0 || x >= width || y >= width) return true;
    return (code->data[y * width + x] & 1) == 0;
  };
  std::string out;
  for (int y = 0; y < size; y += 2) {
    for (int x = 0; x < size; ++x) {
      const bool top = light(x, y);
      const bool bottom = y + 1 < size ? light(x, y + 1) : false;
      out += top && bottom ? "\u2588" : top ? "\u2580" : bottom ? "\u2584" : " ";
    }
    out += "\n";
  }
  return out;
}

}  // namespace ferry::cli
