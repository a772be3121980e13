// decoder.h: the "decoder" of a tokenizer.json: token strings -> text. Supported types,
// with the JavaScript reference's semantics: Sequence, ByteLevel, ByteFallback, Fuse, Strip,
// Replace and Metaspace; any other type is refused by name.
#pragma once
#include <memory>
#include <string>
#include <unordered_set>
#include <vector>

#include <nlohmann/json_fwd.hpp>

namespace moescope {

class HfDecoder {
 public:
  virtual ~HfDecoder() = default;
  // One step of the chain: tokens in, tokens out.
  virtual std::vector<std::string> decode_chain(std::vector<std::string> tokens) const = 0;
  std::string decode(std::vector<std::string> tokens) const;

  // `added` holds the added tokens' contents (ByteLevel passes them through unchanged). A null
  // JSON value gives nullptr (tokens are joined with spaces). Throws std::invalid_argument.
  static std::unique_ptr<HfDecoder> from_json(const nlohmann::json& j, const std::string& where,
                                              const std::unordered_set<std::string>* added);
};

}  // namespace moescope
