// hf_model_dir.cpp: see hf_model_dir.h.
#include "train/hf_model_dir.h"

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <ostream>
#include <stdexcept>

#include <nlohmann/json.hpp>

#include "data/hf_bridge.h"
#include "data/tokenizer.h"
#include "core/host_memory.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "model/hf_weights_export.h"
#include "model/init.h"
#include "ops/runtime.h"
#include "hf/config_export.h"
#include "train/dtype_choice.h"

namespace moescope {
namespace fs = std::filesystem;

HfWeights parse_hf_weights(const std::string& text) {
  if (text == "auto") return HfWeights::kAuto;
  if (text == "copy") return HfWeights::kCopy;
  if (text == "mapped") return HfWeights::kMapped;
  throw std::invalid_argument("--weights: '" + text + "' is not one of auto, copy, mapped");
}

HfWeights choose_hf_weights(HfWeights requested, const std::string& device, double fp32_bytes, double available_bytes) {
  if (requested != HfWeights::kAuto) return requested;
  if (device != "cpu") return HfWeights::kCopy;
  return available_bytes > 0 && fp32_bytes > kHfMappedShareOfMemory * available_bytes ? HfWeights::kMapped
                                                                                      : HfWeights::kCopy;
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
  if (fs::exists(fs::path(dir) / kMoescopeTokenizerFile))
    r.cfg.data.tokenizer = r.tokenizer->kind();  // exported with a moescope tokenizer
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
    throw std::invalid_argument(
        "--weights mapped: the weights stay in the mapped file, so the device must be cpu (got " + resolved + ")");
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

void export_hf_model(Transformer& model, const Config& cfg, const std::string& tokenizer_dir,
                     const std::string& out_dir) {
  std::unique_ptr<Tokenizer> tok = load_tokenizer(tokenizer_dir);
  int64_t bos = -1, eos = -1;
  if (const HfTokenizer* hf = as_hf_tokenizer(*tok)) {
    // bos/eos as tokenizer_config.json names them (bos_id() is set only where BOS is added).
    const fs::path tc = fs::path(tokenizer_dir) / "tokenizer_config.json";
    nlohmann::json j =
        fs::exists(tc) ? parse_json_guarded(read_file(tc.string()), tc.string()) : nlohmann::json::object();
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
  const std::string type = config["model_type"].get<std::string>();
  const bool interleaved = config.value("rope_interleave", type == "deepseek_v2");  // DeepSeek: pairs (2i, 2i+1)
  save_hf_weights(model, cfg.model, type, interleaved, (fs::path(out_dir) / "model.safetensors").string());
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
    const nlohmann::json tc = {{"tokenizer_class", "PreTrainedTokenizerFast"},
                               {"model_max_length", cfg.model.max_seq_len},
                               {"clean_up_tokenization_spaces", false}};
    write_file_atomic((fs::path(out_dir) / "tokenizer_config.json").string(), tc.dump(2) + "\n");
  }
}

}  // namespace moescope
