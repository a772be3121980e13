// enum_names.h: one spelling table per enum class, used to parse config strings once (at load)
// and to print them back (JSON, logs, --help). Specialise EnumNames<E> with kNames in the
// order of E's values; parse_enum / enum_name / operator<< then work for E.
#pragma once
#include <cstddef>
#include <iterator>
#include <ostream>
#include <stdexcept>
#include <string>
#include <type_traits>
#include <vector>

namespace moescope {

template <class E>
struct EnumNames;  // static constexpr const char* kNames[] = {...};  (value i is spelled kNames[i])

template <class E, class = void>
struct is_named_enum : std::false_type {};
template <class E>
struct is_named_enum<E, std::void_t<decltype(EnumNames<E>::kNames)>> : std::true_type {};

template <class E>
constexpr size_t enum_count() {
  return std::size(EnumNames<E>::kNames);
}

template <class E>
const char* enum_name(E e) {
  const auto i = static_cast<size_t>(e);
  return i < enum_count<E>() ? EnumNames<E>::kNames[i] : "?";
}

template <class E>
std::vector<std::string> enum_choices() {
  return std::vector<std::string>(std::begin(EnumNames<E>::kNames), std::end(EnumNames<E>::kNames));
}

// "a, b, c": the choices as error messages and --help list them.
std::string choices_text(const std::vector<std::string>& choices);

// Parses `s` into *out; false (and *out untouched) when `s` is not a spelling of E.
template <class E>
bool parse_enum(const std::string& s, E* out) {
  for (size_t i = 0; i < enum_count<E>(); ++i)
    if (s == EnumNames<E>::kNames[i]) {
      *out = static_cast<E>(i);
      return true;
    }
  return false;
}

// Parses `s`, or throws std::invalid_argument "`what` = 's': must be one of ...".
template <class E>
E parse_enum_or_throw(const std::string& what, const std::string& s) {
  E e{};
  if (!parse_enum(s, &e))
    throw std::invalid_argument(what + " = '" + s + "': must be one of " + choices_text(enum_choices<E>()));
  return e;
}

template <class E, std::enable_if_t<is_named_enum<E>::value, int> = 0>
std::ostream& operator<<(std::ostream& o, E e) {
  return o << enum_name(e);
}

}  // namespace moescope
