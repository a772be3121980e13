// str_edit.h: the small string tests and edits every layer shares (suffix test, replacements,
// trimming). Header-only; no allocation beyond the edited string.
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

// Replaces every occurrence of `from` (non-empty) in s by `to`, left to right, never re-scanning
// a replacement.
inline void replace_all(std::string& s, const std::string& from, const std::string& to) {
  for (size_t p = 0; (p = s.find(from, p)) != std::string::npos; p += to.size()) s.replace(p, from.size(), to);
}

// s without leading and trailing blanks (space, tab, CR, LF).
inline std::string trim(const std::string& s) {
  const size_t b = s.find_first_not_of(" \t\r\n"), e = s.find_last_not_of(" \t\r\n");
  return b == std::string::npos ? std::string() : s.substr(b, e - b + 1);
}

}  // namespace moescope
