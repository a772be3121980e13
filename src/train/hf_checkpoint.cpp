// hf_checkpoint.cpp: see hf_checkpoint.h.
#include "train/hf_checkpoint.h"

#include <array>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <regex>
#include <set>
#include <sstream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "data/hf_bridge.h"
#include "data/tokenizer.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "core/str_edit.h"
#include "core/host_memory.h"
#include "model/hf_shards.h"
#include "hf/config_export.h"
#include "model/init.h"
#include "model/tensor_io.h"
#include "train/dtype_choice.h"
#include "ops/runtime.h"

namespace moescope {
namespace fs = std::filesystem;
namespace {

using Shards = HfShards;

// Rows [off, off + p) of a [rows, cols] weight: interleaved pairs -> halves (forward) or back.
void permute_rope_rows(at::Tensor& w, int64_t off, int64_t p, bool to_halves) {
  auto idx = torch::empty({p}, torch::kLong);
  auto* ix = idx.data_ptr<int64_t>();
  for (int64_t j = 0; j < p / 2; ++j) {
    if (to_halves) ix[j] = 2 * j, ix[p / 2 + j] = 2 * j + 1;
    else ix[2 * j] = j, ix[2 * j + 1] = p / 2 + j;
  }
  auto rows = w.narrow(0, off, p);
  rows.copy_(rows.index_select(0, idx));
}

// The RoPE row blocks of an MLA weight (module name) as (offset, width) pairs.
std::vector<std::pair<int64_t, int64_t>> rope_rows(const ModelConfig& c, const std::string& module_name) {
  const auto& a = c.attn;
  std::vector<std::pair<int64_t, int64_t>> out;
  if (ends_with(module_name, "self_attn.q_b_proj.weight") || ends_with(module_name, "self_attn.q_proj.weight")) {
    for (int64_t h = 0; h < a.n_heads; ++h)
      out.push_back({h * (a.qk_nope_head_dim + a.qk_rope_head_dim) + a.qk_nope_head_dim, a.qk_rope_head_dim});
  } else if (ends_with(module_name, "self_attn.kv_a_proj_with_mqa.weight")) {
    out.push_back({a.kv_lora_rank, a.qk_rope_head_dim});
  }
  return out;
}

}  // namespace

int64_t load_hf_weights(const std::string& dir, const HfModelConfig& hf, Transformer& model, bool in_place,
                        const HfLoadOverlay* overlay) {
  if (hf.mobe && !overlay)
    throw std::runtime_error(dir + ": config.json has '" + kMobeConfigKey + "': its experts are stored as basis factors "
                             "(moescope compress --model); load it with moescope eval/generate/scope --model, which compose them");
  auto shards = std::make_shared<Shards>(dir);
  const Shards& sh = *shards;
  std::set<std::string> used;
  torch::NoGradGuard ng;
  // transformers 5's fused expert layout (model/hf_shards.h): one layer's fused tensor at a time.
  std::string fused_name;
  at::Tensor fused;
  auto load_fused = [&](const HfFusedExpert& f, at::Tensor& dst, bool parameter) {
    const int64_t E = hf.model.moe.n_routed, h = hf.model.moe.expert_hidden, d = hf.model.d_model;
    if (fused_name != f.name) {
      fused = hf_read_float(sh, f.name, f.gate_up ? std::vector<int64_t>{E, 2 * h, d} : std::vector<int64_t>{E, d, h});
      if (!torch::isfinite(fused).all().item<bool>())
        throw std::runtime_error(sh.where(f.name) + ": tensor '" + f.name + "' holds NaN or Inf values");
      fused_name = f.name;
      used.insert(f.name);
    }
    at::Tensor src = fused[f.expert];
    if (f.gate_up) src = src.narrow(0, f.up ? h : 0, h);
    if (in_place && parameter) dst.set_data(src.clone());  // a copy: the rows are not one mapped tensor
    else dst.copy_(src);
  };
  auto load_one = [&](const std::string& key, at::Tensor& dst, bool parameter) {
    if (overlay && overlay->absent.count(key)) return;
    std::string name = hf_tensor_name(hf.model_type, key);
    if (name.empty()) return;
    if (!sh.has(name)) {
      HfFusedExpert f;
      if (hf_fused_expert(key, &f) && sh.has(f.name)) return load_fused(f, dst, parameter);
      const std::string alt = hf_fused_layout_name(hf.model_type, key);
      if (sh.has(alt)) name = alt;
      else throw std::runtime_error(dir + ": tensor '" + name + "' is missing (config.json implies it)");
    }
    used.insert(name);
    const std::vector<int64_t> want = dst.sizes().vec();
    const bool permuted = hf.rope_interleave && !rope_rows(hf.model, key).empty();
    if (in_place && parameter && sh.at(name).entry->dtype != "F8_E4M3") {
      // Parameters stay in the file: F32 and BF16 entries become tensors over the mapped pages
      // (read-only; the mapping lives as long as any of them). F16 entries are copied out as
      // F32 (exact; CPU matmuls have no F16 kernels in LibTorch 1.13), RoPE-permuted ones in
      // their own dtype.
      const auto st = hf_float_dtype(sh, name, want);
      if (st == at::kHalf || permuted) {
        auto src = hf_read_float_as_stored(sh, name, want).to(st == at::kHalf ? at::kFloat : st);
        if (permuted)
          for (auto [off, p] : rope_rows(hf.model, key)) permute_rope_rows(src, off, p, true);
        dst.set_data(src);
      } else {
        auto* data = const_cast<unsigned char*>(sh.at(name).data);
        dst.set_data(torch::from_blob(data, want, [shards](void*) {}, torch::TensorOptions().dtype(st)));
      }
      return;
    }
    at::Tensor src;
    if (sh.at(name).entry->dtype == "F8_E4M3") {
      if (!hf.fp8_blocks)
        throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' is F8_E4M3 but config.json has no fp8 quantization_config");
      src = hf_read_fp8(sh, name, want, hf.fp8_block);
      std::string sname = name;
      replace_once(&sname, ".weight", ".weight_scale_inv");
      used.insert(sname);
    } else {
      src = hf_read_float(sh, name, want);
    }
    if (!torch::isfinite(src).all().item<bool>())
      throw std::runtime_error(sh.where(name) + ": tensor '" + name + "' holds NaN or Inf values");
    if (hf.rope_interleave)
      for (auto [off, p] : rope_rows(hf.model, key)) permute_rope_rows(src, off, p, true);
    dst.copy_(src);
  };
  for (auto& p : model->named_parameters()) load_one(p.key(), p.value(), true);
  for (auto& b : model->named_buffers()) load_one(b.key(), b.value(), false);
  if (overlay && overlay->fill) overlay->fill(model);
  // Tensors the model has no place for: the MTP layers (skipped), a tied model's copy of the
  // head, RoPE frequency buffers some writers save; anything else is an error.
  const std::regex layer_re(R"(^model\.layers\.(\d+)\.)");
  for (const auto& [name, file] : sh.owner) {
    if (used.count(name)) continue;
    std::smatch m;
    if (hf.mtp_layers > 0 && std::regex_search(name, m, layer_re) && std::stoll(m[1]) >= hf.model.n_layers) continue;
    if (hf.model.tie_embeddings && name == "lm_head.weight") continue;
    if (ends_with(name, ".rotary_emb.inv_freq")) continue;
    throw std::runtime_error(file->path() + ": unexpected tensor '" + name + "' (config.json implies no such tensor)");
  }
  return static_cast<int64_t>(used.size());
}

HfWeights parse_hf_weights(const std::string& text) {
  if (text == "auto") return HfWeights::kAuto;
  if (text == "copy") return HfWeights::kCopy;
  if (text == "mapped") return HfWeights::kMapped;
  throw std::invalid_argument("--weights: '" + text + "' is not one of auto, copy, mapped");
}

HfWeights choose_hf_weights(HfWeights requested, const std::string& device, double fp32_bytes, double available_bytes) {
  if (requested != HfWeights::kAuto) return requested;
  if (device != "cpu") return HfWeights::kCopy;
  return available_bytes > 0 && fp32_bytes > kHfMappedShareOfMemory * available_bytes ? HfWeights::kMapped : HfWeights::kCopy;
}

LoadedRun load_model_dir(const std::string& dir, const std::string& device, std::ostream& log, HfWeights weights,
                         const HfLoadOverlay* overlay) {
  HfModelConfig hf = read_hf_config(dir);
  for (const auto& n : hf.notes) log << "model: " << n << "\n";
  LoadedRun r;
  r.cfg.model = hf.model;
  r.cfg.train.dtype = DType::kFp32;
  r.cfg.train.seq_len = std::min<int64_t>(r.cfg.train.seq_len, hf.model.max_seq_len);
  r.cfg.data.tokenizer = "hf:" + dir;
  if (!fs::exists(tokenizer_file(dir))) throw std::runtime_error(dir + ": no tokenizer.json");
  r.tokenizer = load_tokenizer(dir);
  if (fs::exists(fs::path(dir) / kMoescopeTokenizerFile)) r.cfg.data.tokenizer = r.tokenizer->kind();  // exported with a moescope tokenizer
  if (r.tokenizer->vocab_size() > hf.model.vocab_size)
    throw std::runtime_error(dir + ": tokenizer vocabulary (" + std::to_string(r.tokenizer->vocab_size()) +
                             ") is larger than config.json vocab_size (" + std::to_string(hf.model.vocab_size) + ")");
  {
    SkipInitScope no_draw;  // every weight is loaded next (model/init.h)
    r.model = Transformer(hf.model);
  }
  const std::string resolved = resolve_device(device);
  const double fp32_bytes = 4.0 * static_cast<double>(r.model->num_params());
  const double avail = static_cast<double>(available_memory_bytes());
  const HfWeights how = choose_hf_weights(weights, resolved, fp32_bytes, avail);
  if (how == HfWeights::kMapped && resolved != "cpu")
    throw std::invalid_argument("--weights mapped: the weights stay in the mapped file, so the device must be cpu (got " + resolved + ")");
  load_hf_weights(dir, hf, r.model, how == HfWeights::kMapped, overlay);
  r.checkpoint = dir;
  r.step = 0;
  if (how == HfWeights::kMapped) {
    // Activations in bf16 where this CPU runs it natively and faster (train/dtype_choice.h),
    // else fp32 (each weight is then cast per matmul, one at a time).
    const DType dt = resolve_train_dtype(DType::kAuto, resolved, log);
    r.cfg.train.dtype = dt;
    r.model->compute_dtype = compute_dtype(dt);
    log << "model: weights memory-mapped in place (" << format_bytes(fp32_bytes) << " as fp32; " << format_bytes(avail)
        << " available), activations in " << (dt == DType::kBf16 ? "bf16" : "fp32") << "\n";
  } else {
    r.model->to(to_device(resolved));
    r.model->compute_dtype = at::kFloat;
  }
  r.model->eval();
  return r;
}

}  // namespace moescope

namespace moescope {

void export_hf_model(Transformer& model, const Config& cfg, const std::string& tokenizer_dir, const std::string& out_dir) {
  std::unique_ptr<Tokenizer> tok = load_tokenizer(tokenizer_dir);
  int64_t bos = -1, eos = -1;
  if (const HfTokenizer* hf = as_hf_tokenizer(*tok)) {
    // bos/eos as tokenizer_config.json names them (bos_id() is set only where BOS is added).
    const fs::path tc = fs::path(tokenizer_dir) / "tokenizer_config.json";
    nlohmann::json j = fs::exists(tc) ? parse_json_guarded(read_file(tc.string()), tc.string()) : nlohmann::json::object();
    auto id_of = [&](const char* key, std::optional<int32_t> fallback) -> int64_t {
      if (j.is_object() && j.contains(key) && j[key].is_string())
        if (auto id = hf->token_to_id(j[key].get<std::string>())) return *id;
      return fallback ? *fallback : -1;
    };
    bos = id_of("bos_token", hf->bos_id());
    eos = id_of("eos_token", hf->eos_id());
  }
  const nlohmann::json config = export_hf_config(cfg.model, bos, eos);  // refuses before anything is written
  if (fs::exists(out_dir) && !fs::is_empty(out_dir)) throw std::runtime_error(out_dir + ": exists and is not empty");
  fs::create_directories(out_dir);
  std::vector<TensorRecord> recs;
  torch::NoGradGuard ng;
  const std::string type = config["model_type"].get<std::string>();
  const bool interleaved = config.value("rope_interleave", type == "deepseek_v2");  // DeepSeek: pairs (2i, 2i+1)
  auto add = [&](const std::string& key, const at::Tensor& t) {
    const std::string name = hf_tensor_name(type, key);
    if (name.empty()) return;  // no such tensor in this architecture (a router bias it does not have)
    if (cfg.model.tie_embeddings && name == "lm_head.weight") return;  // tied: transformers reads the embedding
    auto w = t.detach().to(torch::kCPU).to(torch::kFloat).contiguous().clone();
    if (key.find("e_score_correction_bias") != std::string::npos && !cfg.model.moe.bias_balance) w.zero_();
    if (interleaved)
      for (auto [off, p] : rope_rows(cfg.model, key)) permute_rope_rows(w, off, p, false);
    recs.push_back(to_record(name, w));
  };
  for (auto& p : model->named_parameters()) add(p.key(), p.value());
  for (auto& b : model->named_buffers()) add(b.key(), b.value());
  save_safetensors((fs::path(out_dir) / "model.safetensors").string(), recs, {{"format", "pt"}});
  write_file_atomic((fs::path(out_dir) / "config.json").string(), config.dump(2) + "\n");
  if (tok->kind() == "hf") {
    tok->save(out_dir);
    return;
  }
  // A moescope tokenizer: kept for moescope under a name transformers does not look for (its
  // SentencePiece model renamed the same way: "tokenizer.model" would be read as a slow
  // tokenizer), and, for char and byte, translated into a tokenizer.json AutoTokenizer loads.
  nlohmann::json own = parse_json_guarded(read_file(tokenizer_file(tokenizer_dir)), tokenizer_file(tokenizer_dir));
  if (tok->kind() == "bpe") {
    const std::string model = own.value("model_file", std::string("tokenizer.model"));
    fs::copy_file(fs::path(tokenizer_dir) / model, fs::path(out_dir) / kMoescopeSpmFile);
    own["model_file"] = kMoescopeSpmFile;
  }
  write_file_atomic((fs::path(out_dir) / kMoescopeTokenizerFile).string(), own.dump(2) + "\n");
  std::string why;
  if (auto hf = hf_tokenizer_json(*tok, &why)) {
    write_file_atomic((fs::path(out_dir) / "tokenizer.json").string(), hf->dump(2) + "\n");
    const nlohmann::json tc = {{"tokenizer_class", "PreTrainedTokenizerFast"}, {"model_max_length", cfg.model.max_seq_len},
                               {"clean_up_tokenization_spaces", false}};
    write_file_atomic((fs::path(out_dir) / "tokenizer_config.json").string(), tc.dump(2) + "\n");
  }
}

}  // namespace moescope
