// str_edit.h: small string tests and edits shared by the name translators (Hugging Face tensor
// names, checkpoint names). Header-only; no allocation beyond the edited string.
#pragma once
#include <string>

namespace moescope {

inline bool ends_with(const std::string& s, const std::string& suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// Replaces the first occurrence of `from` in *s by `to`; false (and *s unchanged) when absent.
inline bool replace_once(std::string* s, const std::string& from, const std::string& to) {
  const auto p = s->find(from);
  if (p == std::string::npos) return false;
  s->replace(p, from.size(), to);
  return true;
}

}  // namespace moescope
