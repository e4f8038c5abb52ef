// A link as a QR code on a terminal, for a phone's camera: two modules per character cell with
// Unicode half blocks, light modules drawn (terminals are mostly dark), a quiet zone around.
#pragma once

#include <string>
#include <string_view>

namespace ferry::cli {

// Empty when the text does not fit a QR code.
std::string qr_text(std::string_view data);

}  // namespace ferry::cli
