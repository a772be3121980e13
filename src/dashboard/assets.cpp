// assets.cpp: lookup of the embedded web assets (the table itself is generated, see
// cmake/embed_assets.cmake).
#include "dashboard/assets.h"

#include <stdexcept>

namespace moescope::dashboard {

// Defined in the generated embedded_assets.cpp, terminated by {nullptr, nullptr, 0}.
extern const Asset kEmbeddedAssets[];

const Asset* find_asset(std::string_view name) {
  for (const Asset* a = kEmbeddedAssets; a->name; ++a)
    if (name == a->name) return a;
  return nullptr;
}

std::string asset_text(std::string_view name) {
  const Asset* a = find_asset(name);
  if (!a) throw std::runtime_error("missing embedded asset '" + std::string(name) + "'");
  return std::string(reinterpret_cast<const char*>(a->data), a->size);
}

std::string asset_mime(std::string_view name) {
  auto ends = [&](std::string_view ext) {
    return name.size() >= ext.size() && name.substr(name.size() - ext.size()) == ext;
  };
  if (ends(".html")) return "text/html; charset=utf-8";
  if (ends(".js")) return "application/javascript; charset=utf-8";
  if (ends(".css")) return "text/css; charset=utf-8";
  if (ends(".png")) return "image/png";
  if (ends(".svg")) return "image/svg+xml";
  return "application/octet-stream";
}

}  // namespace moescope::dashboard
