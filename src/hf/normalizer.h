// normalizer.h: the "normalizer" of a tokenizer.json, applied to each text section between
// added tokens before pre-tokenisation. Supported types: Sequence, NFC, NFD, Prepend, Replace
// and Strip, with the JavaScript reference's semantics; any other type is refused by name.
#pragma once
#include <memory>
#include <string>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class HfNormalizer {
 public:
  virtual ~HfNormalizer() = default;
  virtual std::string normalize(std::string text) const = 0;

  // Builds the normaliser `j` (a null JSON value gives nullptr: no normalisation). `where`
  // names the field in error messages. Throws std::invalid_argument.
  static std::unique_ptr<HfNormalizer> from_json(const nlohmann::json& j, const std::string& where);
};

}  // namespace moescope
