// pretokenizer.h: the "pre_tokenizer" of a tokenizer.json: splits a normalised section
// into the pieces the model encodes one by one. Supported types, with the JavaScript
// reference's semantics: Sequence, Split (behaviour Isolated or Removed), ByteLevel (its
// GPT-2 regex optional; pieces come out in the byte-to-unicode alphabet), Metaspace,
// Whitespace and WhitespaceSplit. Any other type or option value is refused by name.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class HfPreTokenizer {
 public:
  virtual ~HfPreTokenizer() = default;
  // Replaces *pieces by the pre-tokenisation of each piece, in order. `section_index` is the
  // index of the text section (between added tokens) being encoded.
  virtual void pre_tokenize(std::vector<std::string>* pieces, size_t section_index) const = 0;

  // Builds `j` (a null JSON value gives nullptr: the section is one piece). Throws
  // std::invalid_argument naming the field.
  static std::unique_ptr<HfPreTokenizer> from_json(const nlohmann::json& j, const std::string& where);
};

// GPT-2's byte-to-unicode map: byte b -> the code point that stands for it in byte-level
// vocabularies, and the inverse (-1 for code points that stand for no byte).
uint32_t byte_to_unicode(uint8_t b);
int unicode_to_byte(uint32_t cp);

}  // namespace moescope
