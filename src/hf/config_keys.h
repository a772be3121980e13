// config_keys.h: the config.json keys moescope translates, in one table that import
// (config_import.h) and export (config_export.h) both walk, so a key cannot be read one way and
// written another:
//   hf_field_keys()  a key that is one moescope field, the same value both ways: the Hugging
//                    Face key, the moescope field (section.name), the architectures that have
//                    it, and its default on import (none: required);
//   hf_fixed_keys()  a key with the one value moescope supports: import refuses any other,
//                    export writes it (where transformers' config has it);
//   hf_ignored_keys() keys that never change the forward pass (token ids, dtype, training-only
//                    losses, library bookkeeping): import skips them.
// Keys whose translation is not one field (max_position_embeddings is capped, DeepSeek's
// n_shared_experts is a width ratio, routing method names, rope_scaling, dense-layer lists, ...)
// are written out by the architecture code of both files, next to each other's comments.
#pragma once
#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <variant>
#include <vector>

#include <nlohmann/json.hpp>

#include "core/config.h"

namespace moescope {

// The config.json entry `moescope compress --model` adds (its contents: docs/compression.md):
// the routed experts' gate/up matrices are stored as Mixture-of-Basis-Experts factors. Import
// only notes it (HfModelConfig::mobe); the compress layer writes and reads its contents.
constexpr const char* kMobeConfigKey = "moescope_mobe";

// The architectures ("model_type") as bits, so that a key names the ones that have it.
enum HfArch : uint32_t {
  kHfDeepseekV3 = 1u << 0,
  kHfDeepseekV2 = 1u << 1,
  kHfQwen2Moe = 1u << 2,
  kHfQwen3Moe = 1u << 3,
  kHfMixtral = 1u << 4,
  kHfOlmoe = 1u << 5,
};
constexpr uint32_t kHfDeepseek = kHfDeepseekV3 | kHfDeepseekV2;
constexpr uint32_t kHfQwen = kHfQwen2Moe | kHfQwen3Moe;
constexpr uint32_t kHfGqa = kHfQwen | kHfMixtral | kHfOlmoe;  // attn.type = mha
constexpr uint32_t kHfAll = kHfDeepseek | kHfGqa;

// The model types accepted, deepseek_v3 first (hf_model_types()[i] has bit 1 << i).
const std::vector<std::string>& hf_model_types();
// The bit of `model_type`; 0 when moescope does not read it.
uint32_t hf_arch(const std::string& model_type);

using HfFieldRef = std::variant<int64_t*, double*, bool*>;

struct HfFieldKey {
  const char* key;    // config.json
  const char* field;  // moescope's section.name
  uint32_t archs;
  HfFieldRef (*ref)(ModelConfig& m);
  std::optional<double> def;  // import: the value when missing or null; nullopt: required
  bool null_is_zero;          // export writes null for 0 (q_lora_rank, clip_qkv)
};
// In reading order (a key may be read again by architecture code after the table).
const std::vector<HfFieldKey>& hf_field_keys();

struct HfFixedKey {
  const char* key;
  uint32_t archs;
  nlohmann::json value;  // missing and null mean this value too; null: only null is supported
  const char* why;       // import's error for another value
  bool exported;         // transformers' config of these architectures has the key
};
const std::vector<HfFixedKey>& hf_fixed_keys();

const std::set<std::string>& hf_ignored_keys();

}  // namespace moescope
