// hf_fixture_writer.cpp: see hf_fixture_writer.h.
#include "hf_fixture_writer.h"

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <random>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "hf_reference.h"

namespace moescope::hffix {
namespace fs = std::filesystem;
using nlohmann::json;
using hfref::Tensor;
using hfref::Weights;

const char* const kPrompt = "The theory";
// Byte-level BPE by hand: "The" -> T, he ("h e"); " theory" -> Ġ t h e o r y -> "Ġ t" -> Ġt,
// "h e" -> he, "Ġt he" -> Ġthe, "o r" -> or: [Ġthe, or, y].
const std::vector<int64_t>& prompt_ids() {
  static const std::vector<int64_t> v = {84, 257, 258, 259, 121};
  return v;
}
const std::vector<int64_t>& logits_input() {
  static const std::vector<int64_t> v = {261, 84, 257, 258, 259, 121, 32, 97, 110, 100, 46, 270};
  return v;
}

const std::vector<std::string>& architectures() {
  static const std::vector<std::string> a = {"deepseek_v3", "deepseek_v2", "qwen2_moe", "qwen3_moe", "mixtral", "olmoe"};
  return a;
}

namespace {

constexpr int64_t kVocab = 272;  // tokenizer: 256 bytes + 5 merges + 2 added = 263; the rest is padding

// ---- storage dtypes -------------------------------------------------------------------------
uint16_t to_bf16(float f) {  // round to nearest even
  uint32_t u;
  std::memcpy(&u, &f, 4);
  u += 0x7FFF + ((u >> 16) & 1);
  return static_cast<uint16_t>(u >> 16);
}
double from_bf16(uint16_t h) {
  uint32_t u = static_cast<uint32_t>(h) << 16;
  float f;
  std::memcpy(&f, &u, 4);
  return f;
}
uint16_t to_f16(float f) {
  _Float16 h = static_cast<_Float16>(f);
  uint16_t u;
  std::memcpy(&u, &h, 2);
  return u;
}
double from_f16(uint16_t u) {
  _Float16 h;
  std::memcpy(&h, &u, 2);
  return static_cast<double>(static_cast<float>(h));
}
double e4m3(uint8_t b) {  // E4M3 "fn": bias 7, no infinities, 0x7f/0xff NaN
  const int s = b >> 7, e = (b >> 3) & 15, m = b & 7;
  double v = e == 0 ? std::ldexp(m / 8.0, -6) : std::ldexp(1.0 + m / 8.0, e - 7);
  if (e == 15 && m == 7) v = NAN;
  return s ? -v : v;
}

struct Stored {
  std::string name, dtype;
  std::vector<int64_t> shape;
  std::string bytes;
};

// ---- random weights -------------------------------------------------------------------------
struct Gen {
  std::mt19937_64 rng;
  explicit Gen(uint64_t seed) : rng(seed) {}
  double normal() {  // Box-Muller, so the values do not depend on the library's distribution
    const double u1 = (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0;
    const double u2 = (static_cast<double>(rng() >> 11) + 0.5) / 9007199254740992.0;
    return std::sqrt(-2.0 * std::log(u1)) * std::cos(2.0 * M_PI * u2);
  }
};

struct Builder {
  Gen g;
  std::string dtype;  // F32, BF16, F16 for float tensors
  bool fp8 = false;   // deepseek_v3: 2-D projection weights in F8_E4M3 + weight_scale_inv
  Weights ref;        // what the reference sees (decoded values)
  std::vector<Stored> out;

  void store(const std::string& name, const std::vector<int64_t>& shape, std::vector<double> v, const std::string& dt) {
    Stored s{name, dt, shape, {}};
    if (dt == "F32") {
      for (double& a : v) {
        float f = static_cast<float>(a);
        a = f;
        s.bytes.append(reinterpret_cast<const char*>(&f), 4);
      }
    } else if (dt == "BF16" || dt == "F16") {
      for (double& a : v) {
        uint16_t h = dt == "BF16" ? to_bf16(static_cast<float>(a)) : to_f16(static_cast<float>(a));
        a = dt == "BF16" ? from_bf16(h) : from_f16(h);
        s.bytes.append(reinterpret_cast<const char*>(&h), 2);
      }
    } else {
      throw std::logic_error("store " + dt);
    }
    ref[name] = Tensor{shape, v};
    out.push_back(std::move(s));
  }
  void store_fp8(const std::string& name, int64_t R, int64_t C, const std::vector<double>& v) {
    const int64_t B = 128, bR = (R + B - 1) / B, bC = (C + B - 1) / B;
    std::vector<double> scale(bR * bC, 0.0), dec(R * C);
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) {
        double& s = scale[(i / B) * bC + j / B];
        s = std::max(s, std::fabs(v[i * C + j]));
      }
    std::vector<double> scale_f(bR * bC);
    for (size_t k = 0; k < scale.size(); ++k) scale_f[k] = static_cast<float>(scale[k] / 448.0);
    Stored s{name, "F8_E4M3", {R, C}, {}};
    static const std::vector<double> table = [] {
      std::vector<double> t(256);
      for (int k = 0; k < 256; ++k) t[k] = e4m3(static_cast<uint8_t>(k));
      return t;
    }();
    for (int64_t i = 0; i < R; ++i)
      for (int64_t j = 0; j < C; ++j) {
        const double sc = scale_f[(i / B) * bC + j / B], x = v[i * C + j] / sc;
        int best = 0;
        for (int b = 0; b < 256; ++b)
          if (!std::isnan(table[b]) && std::fabs(table[b] - x) < std::fabs(table[best] - x)) best = b;
        s.bytes.push_back(static_cast<char>(best));
        dec[i * C + j] = table[best] * sc;
      }
    ref[name] = Tensor{{R, C}, dec};
    out.push_back(std::move(s));
    std::string sname = name.substr(0, name.size() - 6) + "weight_scale_inv";
    store(sname, {bR, bC}, scale_f, "F32");
    ref.erase(sname);
  }
  void linear(const std::string& name, int64_t out_f, int64_t in_f, double gain = 1.0) {
    std::vector<double> v(out_f * in_f);
    for (double& a : v) a = g.normal() * gain / std::sqrt(static_cast<double>(in_f));
    if (fp8) store_fp8(name, out_f, in_f, v);
    else store(name, {out_f, in_f}, v, dtype);
  }
  void vec(const std::string& name, int64_t n, double mean, double sd, const std::string& dt = "") {
    std::vector<double> v(n);
    for (double& a : v) a = mean + sd * g.normal();
    store(name, {n}, v, dt.empty() ? dtype : dt);
  }
  void norm(const std::string& name, int64_t n) { vec(name, n, 1.0, 0.1); }
  void swiglu(const std::string& p, int64_t D, int64_t F, const char* gn = "gate_proj", const char* un = "up_proj",
              const char* dn = "down_proj") {
    linear(p + gn + ".weight", F, D);
    linear(p + un + ".weight", F, D);
    linear(p + dn + ".weight", D, F);
  }
};

json base_config(const std::string& type) {
  json c;
  c["model_type"] = type;
  c["vocab_size"] = kVocab;
  c["hidden_act"] = "silu";
  c["initializer_range"] = 0.02;
  c["use_cache"] = true;
  c["bos_token_id"] = 261;
  c["eos_token_id"] = 262;
  c["tie_word_embeddings"] = false;
  c["rms_norm_eps"] = 1e-6;
  c["max_position_embeddings"] = 128;
  c["attention_dropout"] = 0.0;
  return c;
}

json config_for(const std::string& a) {
  json c = base_config(a);
  if (a == "deepseek_v3") {
    c["architectures"] = {"DeepseekV3ForCausalLM"};
    c.update({{"hidden_size", 64}, {"intermediate_size", 160}, {"moe_intermediate_size", 32}, {"num_hidden_layers", 3},
              {"num_attention_heads", 4}, {"num_key_value_heads", 4}, {"n_shared_experts", 1}, {"n_routed_experts", 8},
              {"routed_scaling_factor", 2.5}, {"kv_lora_rank", 16}, {"q_lora_rank", 32}, {"qk_rope_head_dim", 8},
              {"v_head_dim", 16}, {"qk_nope_head_dim", 16}, {"n_group", 4}, {"topk_group", 2}, {"num_experts_per_tok", 2},
              {"first_k_dense_replace", 1}, {"norm_topk_prob", true}, {"topk_method", "noaux_tc"}, {"scoring_func", "sigmoid"},
              {"moe_layer_freq", 1}, {"num_nextn_predict_layers", 1}, {"ep_size", 1}, {"rope_theta", 10000.0},
              {"max_position_embeddings", 128}, {"aux_loss_alpha", 0.001}, {"seq_aux", true}});
    c["rope_scaling"] = {{"type", "yarn"}, {"factor", 4.0}, {"original_max_position_embeddings", 32},
                         {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 1.0}, {"mscale_all_dim", 0.8}};
    c["quantization_config"] = {{"activation_scheme", "dynamic"}, {"fmt", "e4m3"}, {"quant_method", "fp8"},
                                {"weight_block_size", {128, 128}}};
  } else if (a == "deepseek_v2") {
    c["architectures"] = {"DeepseekV2ForCausalLM"};
    c.update({{"hidden_size", 64}, {"intermediate_size", 96}, {"moe_intermediate_size", 24}, {"num_hidden_layers", 2},
              {"num_attention_heads", 4}, {"num_key_value_heads", 4}, {"n_shared_experts", 2}, {"n_routed_experts", 8},
              {"routed_scaling_factor", 1.5}, {"kv_lora_rank", 16}, {"q_lora_rank", nullptr}, {"qk_rope_head_dim", 8},
              {"v_head_dim", 16}, {"qk_nope_head_dim", 16}, {"n_group", 4}, {"topk_group", 2}, {"num_experts_per_tok", 3},
              {"first_k_dense_replace", 1}, {"norm_topk_prob", false}, {"topk_method", "group_limited_greedy"},
              {"scoring_func", "softmax"}, {"moe_layer_freq", 1}, {"rope_theta", 10000.0}, {"max_position_embeddings", 128}});
    c["rope_scaling"] = {{"type", "yarn"}, {"factor", 2.0}, {"original_max_position_embeddings", 64},
                         {"beta_fast", 32}, {"beta_slow", 1}, {"mscale", 0.707}, {"mscale_all_dim", 0.707}};
  } else if (a == "qwen2_moe") {
    c["architectures"] = {"Qwen2MoeForCausalLM"};
    c.update({{"hidden_size", 48}, {"intermediate_size", 64}, {"moe_intermediate_size", 20},
              {"shared_expert_intermediate_size", 40}, {"num_hidden_layers", 3}, {"num_attention_heads", 4},
              {"num_key_value_heads", 2}, {"num_experts", 6}, {"num_experts_per_tok", 2}, {"decoder_sparse_step", 1},
              {"mlp_only_layers", {1}}, {"norm_topk_prob", false}, {"rope_theta", 1000000.0}, {"use_sliding_window", false},
              {"sliding_window", 64}, {"max_window_layers", 3}, {"output_router_logits", false},
              {"router_aux_loss_coef", 0.001}});
  } else if (a == "qwen3_moe") {
    c["architectures"] = {"Qwen3MoeForCausalLM"};
    c.update({{"hidden_size", 48}, {"intermediate_size", 64}, {"moe_intermediate_size", 24}, {"num_hidden_layers", 3},
              {"num_attention_heads", 4}, {"num_key_value_heads", 2}, {"head_dim", 16}, {"num_experts", 8},
              {"num_experts_per_tok", 2}, {"decoder_sparse_step", 2}, {"mlp_only_layers", json::array()},
              {"norm_topk_prob", true}, {"rope_theta", 1000000.0}, {"use_sliding_window", false}, {"sliding_window", nullptr},
              {"max_window_layers", 3}, {"attention_bias", false}, {"tie_word_embeddings", true}, {"rms_norm_eps", 1e-6}});
  } else if (a == "mixtral") {
    c["architectures"] = {"MixtralForCausalLM"};
    c.update({{"hidden_size", 48}, {"intermediate_size", 32}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
              {"num_key_value_heads", 1}, {"num_local_experts", 4}, {"num_experts_per_tok", 2}, {"rope_theta", 1000000.0},
              {"sliding_window", nullptr}, {"router_jitter_noise", 0.0}, {"rms_norm_eps", 1e-5}});
  } else if (a == "olmoe") {
    c["architectures"] = {"OlmoeForCausalLM"};
    c.update({{"hidden_size", 48}, {"intermediate_size", 16}, {"num_hidden_layers", 2}, {"num_attention_heads", 4},
              {"num_key_value_heads", 4}, {"num_experts", 8}, {"num_experts_per_tok", 2}, {"norm_topk_prob", false},
              {"clip_qkv", 1.5}, {"rope_theta", 10000.0}, {"rms_norm_eps", 1e-5}, {"attention_bias", false},
              {"pad_token_id", 1}});
  } else {
    throw std::invalid_argument("unknown architecture " + a);
  }
  return c;
}

void build_weights(const json& c, Builder& b) {
  const std::string a = c["model_type"];
  const int64_t D = c["hidden_size"], L = c["num_hidden_layers"], H = c["num_attention_heads"];
  const int64_t G = c.value("num_key_value_heads", H);
  const int64_t hd = c.value("head_dim", D / H);
  const bool v3 = a == "deepseek_v3", ds = v3 || a == "deepseek_v2";
  auto plain = [&](auto f) {  // norms, embeddings, router and head are never FP8
    const bool keep = b.fp8;
    b.fp8 = false;
    f();
    b.fp8 = keep;
  };
  plain([&] {
    std::vector<double> e(kVocab * D);
    const double sd = c.value("tie_word_embeddings", false) ? 0.3 : 1.0;  // a tied head: keep logits moderate
    for (double& x : e) x = b.g.normal() * sd;
    b.store("model.embed_tokens.weight", {kVocab, D}, e, b.dtype);
    b.norm("model.norm.weight", D);
    if (!c.value("tie_word_embeddings", false)) b.linear("lm_head.weight", kVocab, D, 2.0);
  });
  for (int64_t l = 0; l < L; ++l) {
    const std::string p = "model.layers." + std::to_string(l) + ".";
    plain([&] {
      b.norm(p + "input_layernorm.weight", D);
      b.norm(p + "post_attention_layernorm.weight", D);
    });
    const std::string s = p + "self_attn.";
    if (ds) {
      const int64_t R = c["kv_lora_rank"], n = c["qk_nope_head_dim"], r = c["qk_rope_head_dim"], v = c["v_head_dim"];
      if (!c["q_lora_rank"].is_null()) {
        const int64_t Q = c["q_lora_rank"];
        b.linear(s + "q_a_proj.weight", Q, D);
        plain([&] { b.norm(s + "q_a_layernorm.weight", Q); });
        b.linear(s + "q_b_proj.weight", H * (n + r), Q);
      } else {
        b.linear(s + "q_proj.weight", H * (n + r), D);
      }
      b.linear(s + "kv_a_proj_with_mqa.weight", R + r, D);
      plain([&] { b.norm(s + "kv_a_layernorm.weight", R); });
      b.linear(s + "kv_b_proj.weight", H * (n + v), R);
      b.linear(s + "o_proj.weight", D, H * v);
    } else {
      b.linear(s + "q_proj.weight", H * hd, D);
      b.linear(s + "k_proj.weight", G * hd, D);
      b.linear(s + "v_proj.weight", G * hd, D);
      b.linear(s + "o_proj.weight", D, H * hd);
      if (a == "qwen2_moe") {
        b.vec(s + "q_proj.bias", H * hd, 0.0, 0.3);
        b.vec(s + "k_proj.bias", G * hd, 0.0, 0.3);
        b.vec(s + "v_proj.bias", G * hd, 0.0, 0.3);
      }
      if (a == "qwen3_moe") {
        b.norm(s + "q_norm.weight", hd);
        b.norm(s + "k_norm.weight", hd);
      }
      if (a == "olmoe") {
        b.norm(s + "q_norm.weight", H * hd);
        b.norm(s + "k_norm.weight", G * hd);
      }
    }
    // MoE or dense, as the reference decides.
    bool moe_layer = true;
    if (ds) moe_layer = l >= c.value("first_k_dense_replace", 0);
    if (a == "qwen2_moe" || a == "qwen3_moe") {
      for (const auto& m : c["mlp_only_layers"])
        if (m.get<int64_t>() == l) moe_layer = false;
      if ((l + 1) % c.value("decoder_sparse_step", 1) != 0) moe_layer = false;
    }
    if (!moe_layer) {
      b.swiglu(p + "mlp.", D, c["intermediate_size"]);
      continue;
    }
    const int64_t E = ds ? c["n_routed_experts"].get<int64_t>()
                         : (a == "mixtral" ? c["num_local_experts"].get<int64_t>() : c["num_experts"].get<int64_t>());
    const int64_t F = (a == "mixtral" || a == "olmoe") ? c["intermediate_size"].get<int64_t>()
                                                         : c["moe_intermediate_size"].get<int64_t>();
    const std::string m = a == "mixtral" ? p + "block_sparse_moe." : p + "mlp.";
    plain([&] { b.linear(m + "gate.weight", E, D, 3.0); });
    if (v3) b.vec(m + "gate.e_score_correction_bias", E, 0.0, 0.05, "F32");
    for (int64_t e = 0; e < E; ++e) {
      const std::string ep = m + "experts." + std::to_string(e) + ".";
      if (a == "mixtral") b.swiglu(ep, D, F, "w1", "w3", "w2");
      else b.swiglu(ep, D, F);
    }
    if (ds && c.value("n_shared_experts", 0) > 0) b.swiglu(m + "shared_experts.", D, F * c["n_shared_experts"].get<int64_t>());
    if (a == "qwen2_moe") {
      b.swiglu(m + "shared_expert.", D, c["shared_expert_intermediate_size"]);
      plain([&] { b.linear(m + "shared_expert_gate.weight", 1, D); });
    }
  }
  if (v3)  // the multi-token-prediction layer (a few of its tensors): loaders skip it
    plain([&] {
      const std::string p = "model.layers." + std::to_string(L) + ".";
      b.norm(p + "enorm.weight", D);
      b.norm(p + "hnorm.weight", D);
      b.linear(p + "eh_proj.weight", D, 2 * D);
    });
}

std::string byte_char(int b) {  // GPT-2 bytes_to_unicode, UTF-8 encoded
  static std::map<int, int> table = [] {
    std::map<int, int> t;
    int n = 0;
    for (int x = 0; x < 256; ++x) {
      const bool direct = (x >= 33 && x <= 126) || (x >= 161 && x <= 172) || (x >= 174 && x <= 255);
      t[x] = direct ? x : 256 + n++;
    }
    return t;
  }();
  const int cp = table[b];
  std::string s;
  if (cp < 0x80) s += static_cast<char>(cp);
  else {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
  return s;
}

json tokenizer_json() {
  json vocab = json::object();
  for (int b = 0; b < 256; ++b) vocab[byte_char(b)] = b;
  const std::string G = byte_char(' ');
  const std::vector<std::pair<std::string, std::string>> merges = {{G, "t"}, {"h", "e"}, {G + "t", "he"}, {"o", "r"}, {"e", "r"}};
  json m = json::array();
  int id = 256;
  for (const auto& [x, y] : merges) {
    m.push_back(x + " " + y);
    vocab[x + y] = id++;
  }
  json t;
  t["version"] = "1.0";
  t["truncation"] = nullptr;
  t["padding"] = nullptr;
  t["added_tokens"] = json::array(
      {{{"id", 261}, {"content", "<|begin|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}},
       {{"id", 262}, {"content", "<|end|>"}, {"single_word", false}, {"lstrip", false}, {"rstrip", false}, {"normalized", false}, {"special", true}}});
  t["normalizer"] = nullptr;
  t["pre_tokenizer"] = {{"type", "Sequence"},
                        {"pretokenizers",
                         {{{"type", "Split"}, {"pattern", {{"Regex", " ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+"}}},
                           {"behavior", "Isolated"}, {"invert", false}},
                          {{"type", "ByteLevel"}, {"add_prefix_space", false}, {"trim_offsets", true}, {"use_regex", false}}}}};
  t["post_processor"] = nullptr;
  t["decoder"] = {{"type", "ByteLevel"}, {"add_prefix_space", true}, {"trim_offsets", true}, {"use_regex", true}};
  t["model"] = {{"type", "BPE"}, {"dropout", nullptr}, {"unk_token", nullptr}, {"continuing_subword_prefix", nullptr},
                {"end_of_word_suffix", nullptr}, {"fuse_unk", false}, {"byte_fallback", false}, {"vocab", vocab}, {"merges", m}};
  return t;
}

// A safetensors file as Hugging Face writes it: header JSON padded with spaces to 8 bytes.
void write_safetensors(const fs::path& path, std::vector<const Stored*> ts) {
  std::sort(ts.begin(), ts.end(), [](auto* x, auto* y) { return x->name < y->name; });
  json h = json::object();
  h["__metadata__"] = {{"format", "pt"}};
  uint64_t off = 0;
  for (auto* t : ts) {
    h[t->name] = {{"dtype", t->dtype}, {"shape", t->shape}, {"data_offsets", {off, off + t->bytes.size()}}};
    off += t->bytes.size();
  }
  std::string head = h.dump();
  while ((8 + head.size()) % 8) head += ' ';
  std::ofstream f(path, std::ios::binary);
  const uint64_t n = head.size();
  for (int i = 0; i < 8; ++i) f.put(static_cast<char>((n >> (8 * i)) & 0xFF));
  f << head;
  for (auto* t : ts) f << t->bytes;
  if (!f) throw std::runtime_error("cannot write " + path.string());
}

void write_json(const fs::path& p, const json& j) {
  std::ofstream f(p);
  f << j.dump(2) << "\n";
}

}  // namespace

void write_fixture(const std::string& arch, const std::string& dir) {
  const json c = config_for(arch);
  const std::map<std::string, std::string> dtype = {{"deepseek_v3", "BF16"}, {"deepseek_v2", "F32"}, {"qwen2_moe", "BF16"},
                                                    {"qwen3_moe", "F32"},   {"mixtral", "F16"},     {"olmoe", "F32"}};
  const std::map<std::string, int> shards = {{"deepseek_v3", 2}, {"qwen3_moe", 3}};
  // The first seed whose routing and greedy decisions all have a clear margin (so that fp32
  // and double pick the same experts and tokens).
  for (uint64_t seed = 1;; ++seed) {
    if (seed > 200) throw std::runtime_error(arch + ": no seed with clear routing margins");
    Builder b{Gen(seed * 7919 + arch.size()), dtype.at(arch), arch == "deepseek_v3", {}, {}};
    build_weights(c, b);
    auto r = hfref::forward(c, b.ref, logits_input());
    double margin = r.min_margin;
    const auto greedy = hfref::greedy(c, b.ref, prompt_ids(), kGreedyTokens, &margin);
    if (margin < 2e-4) continue;
    fs::create_directories(dir);
    write_json(fs::path(dir) / "config.json", c);
    write_json(fs::path(dir) / "tokenizer.json", tokenizer_json());
    write_json(fs::path(dir) / "tokenizer_config.json",
               {{"bos_token", "<|begin|>"}, {"eos_token", "<|end|>"}, {"add_bos_token", false}, {"add_eos_token", false},
                {"clean_up_tokenization_spaces", false}, {"model_max_length", 128}});
    const int n = shards.count(arch) ? shards.at(arch) : 1;
    if (n == 1) {
      std::vector<const Stored*> all;
      for (const auto& t : b.out) all.push_back(&t);
      write_safetensors(fs::path(dir) / "model.safetensors", all);
    } else {
      std::vector<std::vector<const Stored*>> parts(n);
      for (size_t i = 0; i < b.out.size(); ++i) {
        // A tensor and its FP8 scale go to the same shard, as DeepSeek's files keep them.
        std::string key = b.out[i].name;
        const auto sp = key.find("_scale_inv");
        if (sp != std::string::npos) key = key.substr(0, sp);
        parts[std::hash<std::string>{}(key) % n].push_back(&b.out[i]);
      }
      json index = {{"metadata", {{"total_size", 0}}}, {"weight_map", json::object()}};
      uint64_t total = 0;
      for (int k = 0; k < n; ++k) {
        char name[64];
        std::snprintf(name, sizeof name, "model-%05d-of-%05d.safetensors", k + 1, n);
        write_safetensors(fs::path(dir) / name, parts[k]);
        for (auto* t : parts[k]) {
          index["weight_map"][t->name] = name;
          total += t->bytes.size();
        }
      }
      index["metadata"]["total_size"] = total;
      write_json(fs::path(dir) / "model.safetensors.index.json", index);
    }
    json e;
    e["source"] = "moescope's naive double-precision reference (tests/train/hf_reference.cpp), written from a reading "
                  "of transformers' modeling code; not yet cross-checked against transformers itself";
    e["seed"] = seed;
    e["min_decision_margin"] = margin;
    e["prompt"] = kPrompt;
    e["prompt_ids"] = prompt_ids();
    e["input_ids"] = logits_input();
    e["logits"] = r.logits;
    e["greedy_new_ids"] = greedy;
    std::ofstream f(fs::path(dir) / "expected.json");
    f << e.dump() << "\n";
    return;
  }
}

}  // namespace moescope::hffix
