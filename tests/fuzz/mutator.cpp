// mutator.cpp: seeded byte-level mutations (see mutator.h).
#include "mutator.h"

#include <algorithm>
#include <cctype>
#include <cstring>

namespace moescope::fuzz {
namespace {

const char kInterestingBytes[] = {'\0', '\xff', '\x7f', '\x80', '"',  '\\', '{',  '}', '[', ']',
                                  ',',  ':',    '\n',   '\r',   '\t', ' ',  '0',  '-', '.', 'e',
                                  '=',  '%',    '/',    '?',    '&',  '#',  '\'', 'n', 't'};

const char* const kNumbers[] = {"0",
                                "-1",
                                "1",
                                "255",
                                "256",
                                "65535",
                                "65536",
                                "2147483647",
                                "2147483648",
                                "-2147483649",
                                "4294967295",
                                "4294967296",
                                "9007199254740993",
                                "9223372036854775807",
                                "9223372036854775808",
                                "-9223372036854775809",
                                "18446744073709551615",
                                "18446744073709551616",
                                "1e308",
                                "1e309",
                                "-1e309",
                                "1e-400",
                                "NaN",
                                "nan",
                                "inf",
                                "Infinity",
                                "-0",
                                "0.0",
                                "1.5",
                                "-0.5",
                                "99999999999999999999999",
                                "0x10",
                                "1e5"};

const char* const kBadUtf8[] = {"\xff", "\xc0\xaf", "\xed\xa0\x80",         "\xe2\x82", "\xf4\x90\x80\x80",
                                "\xc3", "\x80",     "\xf8\x88\x80\x80\x80", "%ff",      "%c0%af",
                                "%00"};

const uint64_t kBinary[] = {0,
                            1,
                            2,
                            3,
                            4,
                            7,
                            8,
                            63,
                            64,
                            0x7f,
                            0xff,
                            0x7fff,
                            0xffff,
                            0x7fffffff,
                            0x80000000,
                            0xffffffff,
                            uint64_t(1) << 32,
                            uint64_t(1) << 40,
                            uint64_t(1) << 62,
                            0x7fffffffffffffffull,
                            0x8000000000000000ull,
                            ~uint64_t(0)};

}  // namespace

Mutator::Mutator(uint64_t seed, std::vector<std::string> corpus, size_t max_len)
    : rng_(seed), corpus_(std::move(corpus)), max_len_(std::max<size_t>(max_len, 16)) {
  if (corpus_.empty()) corpus_.push_back("");
}

std::string Mutator::next() {
  std::string s = corpus_[pick(corpus_.size())];
  const size_t n = 1 + pick(4);
  for (size_t i = 0; i < n; ++i) mutate_once(s);
  if (s.size() > max_len_) s.resize(max_len_);
  return s;
}

void Mutator::mutate_once(std::string& s) {
  switch (pick(13)) {
    case 0: return flip_bit(s);
    case 1: return set_byte(s);
    case 2: return insert_bytes(s);
    case 3: return delete_range(s);
    case 4: return duplicate_range(s);
    case 5: return swap_ranges(s);
    case 6: return splice(s);
    case 7: return boundary_number(s);
    case 8: return boundary_binary(s);
    case 9: return pick(4) == 0 ? deep_nesting(s) : boundary_number(s);
    case 10: return invalid_utf8(s);
    case 11: return pick(3) == 0 ? truncate(s) : set_byte(s);
    default: return repeat_chunk(s);
  }
}

void Mutator::flip_bit(std::string& s) {
  if (s.empty()) return insert_bytes(s);
  s[pick(s.size())] ^= char(1u << pick(8));
}

void Mutator::set_byte(std::string& s) {
  if (s.empty()) return insert_bytes(s);
  const size_t at = pick(s.size());
  s[at] = pick(2) ? kInterestingBytes[pick(sizeof kInterestingBytes)] : char(rng_());
}

void Mutator::insert_bytes(std::string& s) {
  const size_t n = 1 + pick(8);
  std::string b;
  for (size_t i = 0; i < n; ++i) b += pick(2) ? kInterestingBytes[pick(sizeof kInterestingBytes)] : char(rng_());
  s.insert(pick(s.size() + 1), b);
}

void Mutator::delete_range(std::string& s) {
  if (s.empty()) return;
  const size_t at = pick(s.size());
  s.erase(at, 1 + pick(std::min<size_t>(s.size() - at, pick(2) ? 8 : 256)));
}

void Mutator::duplicate_range(std::string& s) {
  if (s.empty()) return;
  const size_t at = pick(s.size()), len = 1 + pick(std::min<size_t>(s.size() - at, 64));
  s.insert(pick(s.size() + 1), s.substr(at, len));
}

void Mutator::swap_ranges(std::string& s) {
  if (s.size() < 4) return;
  const size_t len = 1 + pick(std::min<size_t>(s.size() / 2, 32));
  const size_t a = pick(s.size() - len + 1), b = pick(s.size() - len + 1);
  std::string x = s.substr(a, len), y = s.substr(b, len);
  s.replace(b, len, x);
  s.replace(a, len, y);
}

void Mutator::splice(std::string& s) {
  const std::string& o = corpus_[pick(corpus_.size())];
  if (o.empty()) return;
  const size_t from = pick(o.size()), len = 1 + pick(std::min<size_t>(o.size() - from, 512));
  const size_t at = pick(s.size() + 1);
  if (pick(2)) s.insert(at, o, from, len);
  else s = s.substr(0, at) + o.substr(from);
}

void Mutator::boundary_number(std::string& s) {
  // Replace a run of digits (or insert at a random place when there is none).
  std::vector<size_t> starts;
  for (size_t i = 0; i < s.size(); ++i)
    if (std::isdigit(static_cast<unsigned char>(s[i])) &&
        (i == 0 || !std::isdigit(static_cast<unsigned char>(s[i - 1]))))
      starts.push_back(i);
  const char* num = kNumbers[pick(sizeof kNumbers / sizeof *kNumbers)];
  if (starts.empty()) {
    s.insert(pick(s.size() + 1), num);
    return;
  }
  size_t a = starts[pick(starts.size())], b = a;
  if (a > 0 && s[a - 1] == '-') --a;
  while (b < s.size() && (std::isdigit(static_cast<unsigned char>(s[b])) || s[b] == '.' || s[b] == 'e' || s[b] == 'E'))
    ++b;
  s.replace(a, b - a, num);
}

void Mutator::boundary_binary(std::string& s) {
  if (s.empty()) return insert_bytes(s);
  const uint64_t v = kBinary[pick(sizeof kBinary / sizeof *kBinary)];
  const size_t width = pick(2) ? 8 : 4;
  // Aligned offsets first: binary headers keep their fields at multiples of 4.
  size_t at = pick(s.size());
  if (pick(2)) at &= ~size_t(3);
  for (size_t i = 0; i < width && at + i < s.size(); ++i) s[at + i] = char((v >> (8 * i)) & 0xff);
}

void Mutator::deep_nesting(std::string& s) {
  static const size_t depths[] = {64, 129, 1000, 10000, 100000};
  const size_t depth = std::min(depths[pick(5)], max_len_ / 2);
  const size_t at = pick(s.size() + 1);
  std::string open, close;
  switch (pick(3)) {
    case 0: open.assign(depth, '['), close.assign(depth, ']'); break;
    case 1:
      for (size_t i = 0; i < depth / 5; ++i) open += "{\"a\":";
      close.assign(depth / 5, '}');
      break;
    default: open.assign(depth, '['); break;  // unclosed
  }
  s.insert(at, open + "1" + close);
}

void Mutator::invalid_utf8(std::string& s) {
  const char* b = kBadUtf8[pick(sizeof kBadUtf8 / sizeof *kBadUtf8)];
  s.insert(pick(s.size() + 1), b);
}

void Mutator::truncate(std::string& s) { s.resize(pick(s.size() + 1)); }

void Mutator::repeat_chunk(std::string& s) {
  if (s.empty()) return insert_bytes(s);
  const size_t at = pick(s.size()), len = 1 + pick(std::min<size_t>(s.size() - at, 16));
  const std::string chunk = s.substr(at, len);
  const size_t times =
      std::min<size_t>(1 + pick(pick(2) ? 16 : 4096), (max_len_ - std::min(max_len_, s.size())) / len + 1);
  std::string rep;
  for (size_t i = 0; i < times; ++i) rep += chunk;
  s.insert(at, rep);
}

}  // namespace moescope::fuzz
