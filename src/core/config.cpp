// config.cpp: the checks that involve more than one field, and the section table (config.h).
// Single-field ranges and enum choices come from the field lists (field_spec.h).
#include "core/config.h"

#include <sstream>
#include <stdexcept>
#include <vector>

namespace moescope {
namespace {

template <class T>
[[noreturn]] void bad(const std::string& field, const T& value, const std::string& why) {
  std::ostringstream o;
  o << "config: " << field << " = " << value << ": " << why;
  throw std::invalid_argument(o.str());
}

void require_positive(const std::string& field, int64_t v) {
  if (v <= 0) bad(field, v, "must be > 0");
}

// moe.dense_layers: "" or comma-separated layer indices into *out; false when malformed.
bool parse_layer_list(const std::string& text, std::vector<int64_t>* out) {
  out->clear();
  std::stringstream in(text);
  std::string item;
  while (std::getline(in, item, ',')) {
    const auto b = item.find_first_not_of(' '), e = item.find_last_not_of(' ');
    if (b == std::string::npos) return false;
    item = item.substr(b, e - b + 1);
    if (item.empty() || item.size() > 9 || item.find_first_not_of("0123456789") != std::string::npos) return false;
    out->push_back(std::stoll(item));
  }
  return true;
}

}  // namespace

bool ModelConfig::is_moe_layer(int64_t layer) const {
  if (ffn != FfnKind::kMoe || layer < moe.first_k_dense || (layer + 1) % moe.sparse_step != 0) return false;
  if (moe.dense_layers.empty()) return true;
  std::vector<int64_t> dense;
  if (!parse_layer_list(moe.dense_layers, &dense)) return true;  // validate() refuses it
  for (int64_t l : dense)
    if (l == layer) return false;
  return true;
}

int64_t ModelConfig::n_moe_layers() const {
  int64_t n = 0;
  for (int64_t l = 0; l < n_layers; ++l) n += is_moe_layer(l);
  return n;
}

void ModelConfig::validate() const {
  check_ranges("model", *this);
  const auto& a = attn;
  check_ranges("attn", a);
  if (a.type == AttnType::kMha) {
    int64_t kv = a.n_kv_heads ? a.n_kv_heads : a.n_heads;
    if (a.n_heads % kv != 0) bad("attn.n_kv_heads", kv, "must divide attn.n_heads = " + std::to_string(a.n_heads));
    if (a.head_dim == 0 && d_model % a.n_heads != 0)
      bad("attn.n_heads", a.n_heads, "must divide model.d_model = " + std::to_string(d_model));
    int64_t hd = a.head_dim ? a.head_dim : d_model / a.n_heads;
    if (hd % 2) bad("attn.head_dim", hd, "must be even (RoPE rotates pairs)");
  } else if (a.qk_rope_head_dim % 2) {
    bad("attn.qk_rope_head_dim", a.qk_rope_head_dim, "must be even (RoPE rotates pairs)");
  }

  std::vector<int64_t> dense_list;
  if (!parse_layer_list(moe.dense_layers, &dense_list))
    bad("moe.dense_layers", "'" + moe.dense_layers + "'", "must be a comma list of layer indices");
  if (a.qk_norm != QkNorm::kNone && a.type != AttnType::kMha) bad("attn.qk_norm", "set", "needs attn.type = mha");
  if (a.qkv_bias && a.type != AttnType::kMha) bad("attn.qkv_bias", "true", "needs attn.type = mha");
  if (n_moe_layers() < n_layers) require_positive("model.dense_hidden", dense_hidden);
  if (ffn == FfnKind::kMoe) {
    const auto& m = moe;
    check_ranges("moe", m);
    if (m.top_k > m.n_routed) bad("moe.top_k", m.top_k, "must be <= moe.n_routed = " + std::to_string(m.n_routed));
    if (m.first_k_dense < 0 || m.first_k_dense > n_layers)
      bad("moe.first_k_dense", m.first_k_dense, "must be in [0, model.n_layers]");
    if (m.n_routed % m.n_group != 0)
      bad("moe.n_group", m.n_group, "must divide moe.n_routed = " + std::to_string(m.n_routed));
    if (m.topk_group <= 0 || m.topk_group > m.n_group)
      bad("moe.topk_group", m.topk_group, "must be in [1, moe.n_group = " + std::to_string(m.n_group) + "]");
    if (m.top_k > m.topk_group * (m.n_routed / m.n_group))
      bad("moe.top_k", m.top_k,
          "exceeds the experts reachable in moe.topk_group groups (" +
              std::to_string(m.topk_group * (m.n_routed / m.n_group)) + ")");
    if (m.jitter == Jitter::kInput && m.jitter_eps >= 1) bad("moe.jitter_eps", m.jitter_eps, "must be in [0, 1)");
    if (m.bias_on_logits && m.score_func != ScoreFunc::kSoftmax)
      bad("moe.bias_on_logits", "true",
          "needs moe.score_func = softmax (sigmoid scores are per expert: the bias goes on the scores)");
    if (m.shared_expert_gate && m.n_shared == 0) bad("moe.shared_expert_gate", "true", "needs moe.n_shared > 0");
  }
}

void DataConfig::validate() const {
  // data.tokenizer is a choice or a path (hf:PATH), so it is checked here, not parsed as an enum.
  if (tokenizer.rfind("hf:", 0) == 0) {
    if (tokenizer.size() == 3)
      bad("data.tokenizer", tokenizer, "hf: needs a path (hf:PATH, a tokenizer.json or its directory)");
  } else if (tokenizer != "char" && tokenizer != "byte" && tokenizer != "bpe") {
    bad("data.tokenizer", "'" + tokenizer + "'", "must be one of char, byte, bpe");
  }
  check_ranges("data", *this);
}

void CompressConfig::validate() const {
  std::stringstream ss(families);
  std::string tok;
  int n = 0;
  while (std::getline(ss, tok, ',')) {
    if (tok != "gate" && tok != "up") bad("compress.families", "'" + tok + "'", "must be one of gate, up");
    ++n;
  }
  if (n == 0) bad("compress.families", "'" + families + "'", "must list gate and/or up");
  check_ranges("compress", *this);
}

FieldTable Config::fields() {
  FieldTable t;
  visit_sections([&](const char* section, auto& s) { t.add_section(section, s); });
  return t;
}

void Config::validate() const {
  model.validate();
  data.validate();
  check_ranges("train", train);
  check_ranges("scope", scope);
  compress.validate();
  if (train.seq_len > model.max_seq_len)
    bad("train.seq_len", train.seq_len, "exceeds model.max_seq_len = " + std::to_string(model.max_seq_len));
}

std::string config_help() {
  Config defaults;
  return "Config keys (TOML section.key, --set section.key=value), with their defaults:\n" +
         defaults.fields().help_text();
}

Config load_config(const std::string& toml_path, const std::vector<std::string>& assignments) {
  Config c;
  FieldTable t = c.fields();
  if (!toml_path.empty()) t.load_toml_file(toml_path);
  for (auto& a : assignments) t.apply_assignment(a);
  c.validate();
  return c;
}

}  // namespace moescope
