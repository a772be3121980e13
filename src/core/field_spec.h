// field_spec.h: how a config struct describes its fields once. Each struct has one X-macro
// list of lines X(type, name, default, range, help); MOESCOPE_FIELDS(list) expands it into
// the members (with their defaults) and visit_fields(v), which calls
// v(name, member, FieldInfo{help, range}) for every field in order. The FieldTable (TOML,
// --set, JSON, --help), the range checks of validate() and the compress CLI flags all read
// that one list; adding a key is one line in the list plus its use.
#pragma once
#include <cstdint>
#include <limits>
#include <string>

namespace moescope {

// The allowed interval of a numeric field; the defaults allow everything. `note` explains a
// special value, e.g. "0 = off", and is appended to the error message and the help.
struct Range {
  double lo = -std::numeric_limits<double>::infinity();
  double hi = std::numeric_limits<double>::infinity();
  bool lo_open = false, hi_open = false;
  const char* note = nullptr;

  bool contains(double v) const;
  // "> 0", ">= 0 (0 = off)", "in (0, 1]"; "" when the range allows everything.
  std::string describe() const;
  // Throws std::invalid_argument "config: key = value: must be ..." when v is outside.
  void check(const std::string& key, int64_t v) const;
  void check(const std::string& key, double v) const;
};

namespace range {
constexpr double kInf = std::numeric_limits<double>::infinity();
constexpr Range any() { return Range{}; }
constexpr Range above(double lo, const char* note = nullptr) { return Range{lo, kInf, true, false, note}; }
constexpr Range at_least(double lo, const char* note = nullptr) { return Range{lo, kInf, false, false, note}; }
constexpr Range closed(double lo, double hi, const char* note = nullptr) { return Range{lo, hi, false, false, note}; }
constexpr Range left_open(double lo, double hi) { return Range{lo, hi, true, false, nullptr}; }   // (lo, hi]
constexpr Range right_open(double lo, double hi) { return Range{lo, hi, false, true, nullptr}; }  // [lo, hi)
constexpr Range open(double lo, double hi) { return Range{lo, hi, true, true, nullptr}; }         // (lo, hi)
}  // namespace range

struct FieldInfo {
  const char* help = "";
  Range range;
};

}  // namespace moescope

#define MOESCOPE_DECLARE_FIELD(type, name, def, rng, help) type name = def;
#define MOESCOPE_VISIT_FIELD(type, name, def, rng, help) v(#name, name, ::moescope::FieldInfo{help, rng});
// Inside a struct: the members of `LIST` and visit_fields (const and non-const).
#define MOESCOPE_FIELDS(LIST)      \
  LIST(MOESCOPE_DECLARE_FIELD)     \
  template <class V>               \
  void visit_fields(V&& v) {       \
    LIST(MOESCOPE_VISIT_FIELD)     \
  }                                \
  template <class V>               \
  void visit_fields(V&& v) const { \
    LIST(MOESCOPE_VISIT_FIELD)     \
  }
