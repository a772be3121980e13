// field_spec.cpp: range descriptions and checks, and enum choice lists (field_spec.h, enum_names.h).
#include "core/field_spec.h"

#include <cmath>
#include <sstream>
#include <stdexcept>

#include "core/enum_names.h"

namespace moescope {
namespace {

// Bounds print as integers when they are ("1000000", not "1e+06").
std::string bound(double v) {
  std::ostringstream o;
  if (std::isfinite(v) && v == std::floor(v) && std::fabs(v) < 1e15) o << static_cast<long long>(v);
  else o << v;
  return o.str();
}

template <class T>
[[noreturn]] void fail(const std::string& key, T v, const Range& r) {
  std::ostringstream o;
  o << "config: " << key << " = " << v << ": must be " << r.describe();
  throw std::invalid_argument(o.str());
}

}  // namespace

bool Range::contains(double v) const {
  const bool lo_ok = std::isinf(lo) && lo < 0 ? true : (lo_open ? v > lo : v >= lo);
  const bool hi_ok = std::isinf(hi) && hi > 0 ? true : (hi_open ? v < hi : v <= hi);
  return lo_ok && hi_ok && !std::isnan(v);
}

std::string Range::describe() const {
  const bool has_lo = !(std::isinf(lo) && lo < 0), has_hi = !(std::isinf(hi) && hi > 0);
  std::string s;
  if (has_lo && has_hi)
    s = std::string("in ") + (lo_open ? "(" : "[") + bound(lo) + ", " + bound(hi) + (hi_open ? ")" : "]");
  else if (has_lo) s = std::string(lo_open ? "> " : ">= ") + bound(lo);
  else if (has_hi) s = std::string(hi_open ? "< " : "<= ") + bound(hi);
  if (note && *note) s += std::string(s.empty() ? "" : " ") + "(" + note + ")";
  return s;
}

void Range::check(const std::string& key, int64_t v) const {
  if (!contains(static_cast<double>(v))) fail(key, v, *this);
}

void Range::check(const std::string& key, double v) const {
  if (!contains(v)) fail(key, v, *this);
}

std::string choices_text(const std::vector<std::string>& choices) {
  std::string s;
  for (const auto& c : choices) s += (s.empty() ? "" : ", ") + c;
  return s;
}

}  // namespace moescope
