// mutator.h: the fuzz driver's seeded mutator (fuzz_main.cpp).
//
// Each input is a corpus entry with 1-4 mutations applied: bit flips, interesting bytes, byte
// inserts and deletes, chunk duplication and swapping, splicing with another entry, boundary
// numbers written over a digit run (2^31, 2^63, 2^64, 1e309, NaN, ...), little-endian boundary
// integers written over binary fields, deep nesting ('[' x 100,000), invalid UTF-8, truncation,
// and repetition of a chunk. The same seed and corpus give the same inputs.
#pragma once
#include <cstdint>
#include <random>
#include <string>
#include <vector>

namespace moescope::fuzz {

class Mutator {
 public:
  Mutator(uint64_t seed, std::vector<std::string> corpus, size_t max_len);
  std::string next();
  // One named mutation applied to `s` (for tests of the mutator itself).
  void mutate_once(std::string& s);

 private:
  size_t pick(size_t n) { return n ? size_t(rng_() % n) : 0; }
  void flip_bit(std::string& s);
  void set_byte(std::string& s);
  void insert_bytes(std::string& s);
  void delete_range(std::string& s);
  void duplicate_range(std::string& s);
  void swap_ranges(std::string& s);
  void splice(std::string& s);
  void boundary_number(std::string& s);
  void boundary_binary(std::string& s);
  void deep_nesting(std::string& s);
  void invalid_utf8(std::string& s);
  void truncate(std::string& s);
  void repeat_chunk(std::string& s);

  std::mt19937_64 rng_;
  std::vector<std::string> corpus_;
  size_t max_len_;
};

}  // namespace moescope::fuzz
