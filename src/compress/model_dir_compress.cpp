// model_dir_compress.cpp: see model_dir_compress.h.
#include "compress/model_dir_compress.h"

#if defined(__GLIBC__)
#include <malloc.h>
#endif

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <map>
#include <regex>
#include <set>
#include <stdexcept>

#include "compress/compressed_run.h"
#include "compress/basis_init.h"
#include "compress/factor_metrics.h"
#include "compress/mobe_dir.h"
#include "compress/normalise.h"
#include "compress/routing_weights.h"
#include "core/host_memory.h"
#include "io/atomic_file.h"
#include "io/json_guard.h"
#include "model/hf_weights.h"
#include "model/param_names.h"
#include "hf/config_import.h"
#include "run/log_fields.h"
#include "core/str_edit.h"

namespace moescope::compress {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kCopyChunk = 64ull << 20;  // bytes written per call when copying a tensor

// Hands freed heap pages back to the OS. The solver's medium-sized temporaries (an [E, P, R]
// factor is ~17 MB on a 64 x 1024 x 2048 layer, below glibc's largest mmap threshold) come
// from the heap, whose fragmented free pages otherwise stayed resident and added ~0.2 GB of RSS
// per bank on the 13 GB checkpoint.
void release_free_heap() {
#if defined(__GLIBC__)
  ::malloc_trim(0);
#endif
}

// The source directory: its config, the MoE layers and the mapped shards.
struct Source {
  std::string dir;
  nlohmann::json config;
  HfModelConfig hf;
  std::unique_ptr<HfShards> shards;
  std::vector<int64_t> moe_layers;
  std::vector<std::string> fams;
  int64_t E = 0, P = 0, D = 0;
  bool indexed = false;  // shards listed in model.safetensors.index.json

  std::string expert_tensor(int64_t layer, int64_t expert, const std::string& fam) const {
    return hf_tensor_name(hf.model_type, expert_prefix(layer, expert) + fam + "_proj.weight");
  }
};

Source open_source(const std::string& dir, const CompressConfig& cfg) {
  if (!fs::is_directory(dir))
    throw std::runtime_error(dir + ": no such directory (expected a Hugging Face model directory)");
  const fs::path cp = fs::path(dir) / "config.json";
  if (!fs::is_regular_file(cp)) throw std::runtime_error(dir + ": no config.json: not a Hugging Face model directory");
  Source s;
  s.dir = dir;
  s.config = parse_json_guarded(read_file(cp.string()), cp.string());
  if (!s.config.is_object() || !s.config.contains("model_type"))
    throw std::runtime_error(cp.string() +
                             " has no \"model_type\": not a Hugging Face model directory "
                             "(a moescope run? compress it with --run)");
  if (s.config.contains(kMobeConfigKey))
    throw std::invalid_argument("compress: " + dir + " is already compressed (config.json has '" + kMobeConfigKey +
                                "'); compress its source model instead");
  s.hf = translate_hf_config(s.config, cp.string());
  const ModelConfig& m = s.hf.model;
  for (int64_t l = 0; l < m.n_layers; ++l)
    if (m.is_moe_layer(l)) s.moe_layers.push_back(l);
  if (s.moe_layers.empty())
    throw std::invalid_argument("compress: " + dir + " has no MoE layers (model_type " + s.hf.model_type +
                                "): there are no routed experts to compress");
  s.fams = parse_families(cfg.families);
  s.E = m.moe.n_routed, s.P = m.moe.expert_hidden, s.D = m.d_model;
  s.indexed = fs::exists(fs::path(dir) / "model.safetensors.index.json");
  s.shards = std::make_unique<HfShards>(dir);
  for (int64_t l : s.moe_layers)
    for (int64_t e = 0; e < s.E; ++e)
      for (const char* fam : {"gate", "up", "down"}) {
        const std::string n = s.expert_tensor(l, e, fam);
        if (!s.shards->has(n))
          throw std::runtime_error(dir + ": tensor '" + n + "' is missing (config.json implies it)");
      }
  return s;
}

int64_t numel(const std::vector<int64_t>& shape) {
  int64_t n = 1;
  for (auto d : shape) n *= d;
  return n;
}
bool is_scale_inv(const std::string& n) { return n.size() > 10 && ends_with(n, "_scale_inv"); }

// One bank and the (layer, family) matrices it serves, in compress_model's group order.
struct Unit {
  std::string name, family;
  std::vector<int64_t> layers;
};

std::vector<Unit> units_of(const Source& s, BankScope scope) {
  std::vector<Unit> out;
  if (scope == BankScope::kGlobal) {
    for (auto& fam : s.fams) out.push_back({bank_name(scope, -1, fam), fam, s.moe_layers});
  } else {
    for (int64_t l : s.moe_layers)
      for (auto& fam : s.fams) out.push_back({bank_name(scope, l, fam), fam, {l}});
  }
  return out;
}

CompressionSizes plan(const Source& s, const CompressConfig& cfg) {
  CompressionSizes z;
  // The model's parameters (TransformerImpl::num_params, as compress --run counts): every tensor
  // but FP8 scale blocks, the router bias (a buffer) and what the loader skips (DeepSeek-V3's
  // multi-token-prediction layers, a tied head's copy, RoPE buffers).
  const std::regex layer_re(R"(^model\.layers\.(\d+)\.)");
  for (const auto& [name, file] : s.shards->owner) {
    std::smatch m;
    if (is_scale_inv(name) || (s.hf.model.tie_embeddings && name == "lm_head.weight") ||
        name.find(".rotary_emb.inv_freq") != std::string::npos ||
        name.find("e_score_correction_bias") != std::string::npos ||
        (std::regex_search(name, m, layer_re) && std::stoll(m[1]) >= s.hf.model.n_layers))
      continue;
    z.model_before += numel(s.shards->at(name).entry->shape);
  }
  z.expert_before = 3 * s.E * s.P * s.D * static_cast<int64_t>(s.moe_layers.size());
  z.expert_after = z.expert_before;
  z.model_after = z.model_before;
  for (auto& u : units_of(s, cfg.scope)) {
    GroupSize g;
    g.group = u.name;
    g.E = s.E * static_cast<int64_t>(u.layers.size()), g.P = s.P, g.D = s.D;
    g.before = g.E * g.P * g.D;
    z.add_bank(std::move(g), cfg);
  }
  return z;
}

// One routed expert's matrix [P, D] (fp32, or its file dtype), its pages released afterwards.
at::Tensor read_expert(const Source& s, const std::string& name) {
  const auto v = s.shards->at(name);
  at::Tensor t;
  if (v.entry->dtype == "F8_E4M3") {
    if (!s.hf.fp8_blocks)
      throw std::runtime_error(s.shards->where(name) + ": tensor '" + name +
                               "' is F8_E4M3 but config.json has no fp8 quantization_config");
    t = hf_read_fp8(*s.shards, name, {s.P, s.D}, s.hf.fp8_block);
    s.shards->release(hf_scale_inv_name(name));
  } else {
    t = hf_read_float_as_stored(*s.shards, name, {s.P, s.D});
  }
  s.shards->release(name);
  if (!torch::isfinite(t).all().item<bool>())
    throw std::runtime_error(s.shards->where(name) + ": tensor '" + name + "' holds NaN or Inf values");
  return t;
}

// Copies every tensor the banks do not replace into OUT, shard by shard, byte for byte.
void copy_kept_tensors(const Source& s, const std::set<std::string>& factorised, const std::string& out) {
  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total = 0;
  for (const auto& f : s.shards->files) {
    std::vector<StreamedTensor> tensors;
    for (const auto& e : f->entries()) {
      if (factorised.count(e.name)) continue;
      const MappedSafetensors* file = f.get();
      const std::string name = e.name;
      tensors.push_back(
          {e.name, e.dtype, e.shape, [file, name](const std::function<void(std::string_view)>& put) {
             const auto v = file->at(name);
             for (uint64_t off = 0; off < v.size(); off += kCopyChunk)
               put(std::string_view(reinterpret_cast<const char*>(v.data) + off, std::min(kCopyChunk, v.size() - off)));
             file->release(v);
           }});
      total += e.end - e.begin;
    }
    if (tensors.empty()) continue;  // a shard that held only factorised matrices
    const std::string base = fs::path(f->path()).filename().string();
    for (auto& t : tensors) weight_map[t.name] = base;
    save_safetensors_streamed((fs::path(out) / base).string(), std::move(tensors), f->metadata());
  }
  if (s.indexed) {
    const nlohmann::json index{{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}};
    write_file_atomic((fs::path(out) / "model.safetensors.index.json").string(), index.dump(2) + "\n");
  }
}

// The source's other files (tokenizer, generation config, ...), copied.
void copy_other_files(const std::string& dir, const std::string& out) {
  for (const auto& e : fs::directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string n = e.path().filename().string();
    if (n == "config.json" || n == "model.safetensors.index.json" || e.path().extension() == ".safetensors") continue;
    fs::copy_file(e.path(), fs::path(out) / n, fs::copy_options::overwrite_existing);
  }
}

std::string bank_file_name(const std::string& bank) {
  std::string n = bank;
  std::replace(n.begin(), n.end(), '.', '-');
  return "mobe-" + n + ".safetensors";
}

}  // namespace

uint64_t directory_bytes(const std::string& dir) {
  uint64_t n = 0;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file()) n += e.file_size();
  return n;
}

CompressionSizes plan_model_dir(const std::string& dir, const CompressConfig& cfg) {
  cfg.validate();
  const Source s = open_source(dir, cfg);
  return plan(s, cfg);
}

nlohmann::json compress_model_dir(const std::string& dir, const std::string& out, const CompressConfig& cfg,
                                  std::ostream& log, const ModelDirOptions& opt) {
  using Clock = std::chrono::steady_clock;
  cfg.validate();
  const auto t0 = Clock::now();
  const Source s = open_source(dir, cfg);
  if (opt.weight_by) check_routing_counts(*opt.weight_by, s.moe_layers, s.E);
  const CompressionSizes sizes = plan(s, cfg);
  const auto units = units_of(s, cfg.scope);
  if (cfg.scope == BankScope::kGlobal) {
    const double bank = 2.0 * 8.0 * double(sizes.groups.front().E) * double(s.P) * double(s.D);
    const double avail = double(available_memory_bytes());
    if (avail > 0 && bank > 0.5 * avail)
      throw std::invalid_argument(
          "compress --model: scope global puts every MoE layer's experts of a family into one bank, held in "
          "memory (" +
          format_bytes(bank) + " in float64 while normalising), more than half of the " + format_bytes(avail) +
          " available; use scope layer, which streams one layer at a time");
  }
  if (fs::exists(out) && !(fs::is_directory(out) && fs::is_empty(out)))
    throw std::runtime_error("compress: " + out + " exists and is not empty; choose another --out");
  fs::create_directories(out);
  JsonlWriter metrics((fs::path(out) / "metrics.jsonl").string(), /*append=*/false);
  log << "compress: " << dir << " (" << s.hf.model_type << ", " << s.moe_layers.size() << " MoE layers of " << s.E
      << " experts), streamed one bank at a time; solver " << cfg.solver << ", scope " << cfg.scope
      << ", f = " << cfg.activation << "\n"
      << sizes.render();

  const Activation f = cfg.activation;
  std::set<std::string> factorised;
  nlohmann::json errs = nlohmann::json::array(), solves = nlohmann::json::array(), files = nlohmann::json::array();
  std::set<std::string> reasons;
  int64_t iters = 0;
  double objective = 0;
  for (size_t k = 0; k < units.size(); ++k) {
    const Unit& u = units[k];
    const GroupSize& gs = sizes.groups[k];
    const auto tu = Clock::now();
    std::vector<LayerFamily> lfs;
    for (int64_t l : u.layers) {
      auto W_EPD = torch::empty({s.E, s.P, s.D}, torch::kDouble);
      for (int64_t e = 0; e < s.E; ++e) {
        const std::string name = s.expert_tensor(l, e, u.family);
        if (opt.trace) opt.trace("read " + name);
        W_EPD[e].copy_(read_expert(s, name));
        factorised.insert(name);
        if (s.shards->has(hf_scale_inv_name(name)) && hf_scale_inv_name(name) != name)
          factorised.insert(hf_scale_inv_name(name));
      }
      lfs.push_back({l, u.family, std::move(W_EPD)});
    }
    const double read_s = std::chrono::duration<double>(Clock::now() - tu).count();
    auto states = build_groups(lfs, cfg.scope, cfg.normalise);
    if (opt.weight_by) apply_routing_weights(states, *opt.weight_by, cfg.weight_floor);
    lfs.clear();  // the float64 copies of the matrices; only the z-scores stay
    release_free_heap();
    initialise_multistart(states[0], cfg, gs.R, gs.M, f, static_cast<uint64_t>(cfg.seed) + 7919 * k, opt.restarts);
    auto report = [&](const IterationReport& r) {
      auto rec = iteration_record(r, enum_name(cfg.solver));
      metrics.write(rec);
      if (r.iter % 10 == 0)
        log << "compress: " << u.name << " iter " << r.iter << " objective " << r.objective << " rel_error "
            << (r.groups.empty() ? 0.0 : r.groups[0].rel_error) << "\n";
    };
    const SolveResult res = solve(states, cfg, f, report);
    const IterationReport fin = measure_all(states, f, cfg, res.best_iter);
    if (fin.groups[0].nonfinite > 0)
      throw std::runtime_error("compress: " + u.name +
                               " never reached a finite state (NaN/Inf in the factors); "
                               "lower compress.lr or try compress.init = svd");
    const BasisGroup g = basis_group_from(states[0], f);
    states.clear();
    release_free_heap();
    const std::string file = bank_file_name(u.name);
    auto meta = basis_metadata({g});
    meta["format"] = "pt";
    save_safetensors((fs::path(out) / file).string(), basis_records({g}), meta);
    files.push_back(file);
    errs.push_back(to_json(fin.groups[0]));
    const double sec = std::chrono::duration<double>(Clock::now() - tu).count();
    const uint64_t hwm = process_status_bytes("VmHWM");
    solves.push_back({{log_field::kGroup, u.name},
                      {"iterations", res.iters},
                      {"best_iter", res.best_iter},
                      {"objective", res.best_objective},
                      {"stop_reason", res.stop_reason},
                      {"read_s", read_s},
                      {"seconds", sec},
                      {"peak_rss_bytes", hwm}});
    iters = std::max(iters, res.iters);
    objective += res.best_objective;
    reasons.insert(res.stop_reason);
    log << "compress: bank " << (k + 1) << "/" << units.size() << " " << u.name << ": rel_error "
        << fin.groups[0].rel_error << ", " << res.iters << " iterations (" << res.stop_reason << "), " << sec
        << " s (read " << read_s << " s), peak RSS " << format_bytes(double(hwm)) << "\n";
    if (opt.trace) opt.trace("solved " + u.name);
  }

  copy_kept_tensors(s, factorised, out);
  copy_other_files(dir, out);
  nlohmann::json config = s.config;
  std::vector<std::string> fams = s.fams;
  config[kMobeConfigKey] = {{"version", kMobeDirVersion},
                            {"activation", enum_name(cfg.activation)},
                            {"scope", enum_name(cfg.scope)},
                            {"families", fams},
                            {"normalise", cfg.normalise},
                            {"solver", enum_name(cfg.solver)},
                            {"init", enum_name(cfg.init)},
                            {"rank", sizes.groups.front().R},
                            {"n_bases", sizes.groups.front().M},
                            {"files", files},
                            {"source", dir}};
  write_file_atomic((fs::path(out) / "config.json").string(),
                    config.dump(2) + "\n");  // last: the directory is complete

  std::string reason;
  for (auto& r : reasons) reason += (reason.empty() ? "" : ",") + r;
  const uint64_t before = directory_bytes(dir), after = directory_bytes(out);
  const uint64_t hwm = process_status_bytes("VmHWM");
  nlohmann::json summary = sizes.to_json();
  summary.update({{log_field::kSchema, 1},
                  {log_field::kType, log_field::kCompressSummary},
                  {"solver", enum_name(cfg.solver)},
                  {"scope", enum_name(cfg.scope)},
                  {"activation", enum_name(cfg.activation)},
                  {"init", enum_name(cfg.init)},
                  {"restarts", opt.restarts.restarts},
                  {"iterations", iters},
                  {"objective", objective},
                  {"stop_reason", reason},
                  {"wall_s", std::chrono::duration<double>(Clock::now() - t0).count()},
                  {log_field::kGroups, errs},
                  {"bank_solves", solves},
                  {"source", dir},
                  {"streamed", cfg.scope == BankScope::kLayer},
                  {"peak_rss_bytes", hwm},
                  {"disk_bytes_before", before},
                  {"disk_bytes_after", after},
                  {"disk_ratio", before > 0 ? double(after) / double(before) : 0.0}});
  if (opt.weight_by) summary.update({{"weighted_by", opt.weight_by->run}, {"weight_floor", cfg.weight_floor}});
  metrics.write(summary);
  log << "compress: " << out << ": " << format_bytes(double(after)) << " on disk vs " << format_bytes(double(before))
      << " (" << 100.0 * double(after) / double(std::max<uint64_t>(before, 1)) << "%), peak RSS "
      << format_bytes(double(hwm)) << "\n";
  return summary;
}

}  // namespace moescope::compress
