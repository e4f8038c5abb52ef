// Built when web/dist did not exist (npm was not run): the server says so on its pages.
#include "server/web_assets.hpp"

namespace ferry::server {

std::optional<WebAsset> find_web_asset(std::string_view) {
  return std::nullopt;
}

bool web_app_built() {
  return false;
}

}  // namespace ferry::server
