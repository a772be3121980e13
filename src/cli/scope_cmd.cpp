// scope_cmd.cpp: `moescope scope --run RUN_DIR [--step N]`: the per-layer routing health table
// (and a `scope --model` run's routing profile); `moescope scope --model DIR --data FILE [--data
// FILE2 ...] --out RUN`: the microscope at inference over corpora (scope/corpus_scope.h).
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <iostream>
#include <memory>

#include <CLI/CLI.hpp>

#include "cli/commands.h"
#include "compress/compressed_run.h"
#include "core/host_memory.h"
#include "model/resource_estimate.h"
#include "compress/compress_summary.h"
#include "cli/any_run.h"
#include "data/dataset.h"
#include "io/atomic_file.h"
#include "run/health.h"
#include "hf/config_import.h"
#include "run/routing_profile_view.h"
#include "run/run_dir.h"
#include "scope/corpus_scope.h"
#include "ops/runtime.h"
#include "train/dtype_choice.h"

namespace moescope {
namespace {
// A compressed run (moescope compress): its per-bank compression table, then the source run's
// routing health when that run is still on disk.
int scope_compressed(const std::string& run, int64_t step, bool json) {
  compress::check_compressed_marker(run);
  auto summary = compress::read_compress_summary(metrics_path(run));
  const auto marker = nlohmann::json::parse(read_file(compress::compressed_marker_path(run)));
  const std::string src = marker.value("source_run", "");
  const bool have_src = !src.empty() && std::filesystem::exists(metrics_path(src));
  HealthTable t;
  if (have_src) t = read_health_table(metrics_path(src), step);
  if (json) {
    nlohmann::json j{{"compress", summary}, {"source_run", src}};
    if (have_src) j["source"] = {{"step", t.step}, {"layers", t.layers}};
    std::cout << j.dump() << std::endl;
    return 0;
  }
  std::cout << compress::render_compress_summary(summary);
  if (have_src) std::cout << "\nsource run " << src << " routing health:\n" << t.render();
  return 0;
}

struct ScopeOpts {
  std::string run, model, out, device = "auto", cache_dir, weights = "auto", max_memory, dtype = "auto";
  std::vector<std::string> data;
  int64_t step = -1;
  int tokens = 3;
  bool json = false;
  CorpusScopeOptions pass;
};

// `scope --run`: the health table of the latest (or chosen) interval, then the routing profile
// when the run has one (a `scope --model` run).
int scope_run(const ScopeOpts& o) {
  auto t = read_health_table(metrics_path(o.run), o.step);
  for (auto& w : t.warnings) std::cerr << "warning: " << w << "\n";
  const auto profile = read_routing_profile(o.run);
  if (o.json) {
    nlohmann::json j{{"step", t.step}, {"layers", t.layers}, {"summary", t.summary}};
    if (profile) j["profile"] = *profile;
    std::cout << j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace) << std::endl;
  } else {
    std::cout << t.render();
    if (profile) std::cout << "\n" << render_routing_profile(*profile, o.tokens);
  }
  return 0;
}

// `scope --model`: forward-only passes over the corpora, into a new run directory.
int scope_model(ScopeOpts o) {
  if (o.data.empty()) throw std::invalid_argument("scope --model needs --data FILE (one or more)");
  if (o.out.empty()) throw std::invalid_argument("scope --model needs --out RUN (a new directory)");
  if (std::filesystem::exists(metrics_path(o.out)))
    throw std::invalid_argument("--out " + o.out + " already holds a run (" + metrics_path(o.out) +
                                "); choose a new directory");
  if (!o.max_memory.empty()) o.pass.max_memory = parse_byte_size(o.max_memory, "--max-memory");
  HfWeights weights = parse_hf_weights(o.weights);
  if (o.pass.max_memory > 0 && weights == HfWeights::kAuto && is_hf_model_dir(o.model)) {
    // A budget: keep the weights in the mapped file when their fp32 copy would take more than
    // the auto rule's share of it, so that streaming can release them layer by layer.
    const double fp32 = 4.0 * estimate_resources(read_hf_config(o.model).model, TrainConfig{}).params_total;
    if (fp32 > kHfMappedShareOfMemory * static_cast<double>(o.pass.max_memory)) weights = HfWeights::kMapped;
  }
  auto run = load_any_run(o.model, o.device, weights);
  // A batch forward: auto is train.dtype auto's hardware rule, its bf16 timing kept per machine
  // (the loader's own choice, and the run's saved dtype, are not used).
  run.model->compute_dtype =
      compute_dtype(resolve_batch_dtype(parse_dtype_option(o.dtype), resolve_device(o.device), "scope", std::cerr));
  // Cheap checks before the corpora are tokenised.
  if (o.pass.seq_len > run.cfg.model.max_seq_len) {
    if (o.pass.seq_len != CorpusScopeOptions{}.seq_len)
      throw std::invalid_argument("--seq-len " + std::to_string(o.pass.seq_len) +
                                  " is longer than the model's max_seq_len " +
                                  std::to_string(run.cfg.model.max_seq_len));
    o.pass.seq_len = run.cfg.model.max_seq_len;  // the default, capped to the model
  }
  for (const auto& path : o.data)
    if (!std::filesystem::is_regular_file(path)) throw std::invalid_argument("--data " + path + ": no such file");
  DataConfig dc = run.cfg.data;
  if (!o.cache_dir.empty()) dc.cache_dir = o.cache_dir;
  std::vector<Dataset> sets;
  std::vector<CorpusTokens> corpora;
  for (const auto& path : o.data) {
    sets.push_back(Dataset::open_for_eval(o.model, dc, path, std::cerr));
    const Dataset* d = &sets.back();
    corpora.push_back({path, d->train_size() + d->val_size(), nullptr});
  }
  for (size_t i = 0; i < corpora.size(); ++i) {
    const Dataset* d = &sets[i];
    corpora[i].token = [d](int64_t k) { return static_cast<int64_t>(d->token(k)); };
  }
  int64_t total = 0;
  for (const auto& c : corpora) total += c.size;
  std::cerr << "scope: " << total << " tokens in chunks of " << o.pass.batch << " x " << o.pass.seq_len
            << ", a record every " << o.pass.log_every << " chunks, into " << o.out << "\n";
  Progress progress(std::cerr, isatty(fileno(stderr)) != 0, total);
  const Tokenizer& tok = *run.tokenizer;
  auto r = run_corpus_scope(
      run.model, corpora, o.pass, run.cfg.scope, o.out, o.model,
      [&tok](int64_t id) { return tok.decode({static_cast<int32_t>(id)}); }, progress);
  const double tps = r.seconds > 0 ? double(r.tokens) / r.seconds : 0.0;
  const uint64_t hwm = process_status_bytes("VmHWM"), anon = process_status_bytes("RssAnon"),
                 file = process_status_bytes("RssFile");
  if (o.json) {
    std::cout << nlohmann::json{{"run", o.out},
                                {"model", o.model},
                                {"tokens", r.tokens},
                                {"chunks", r.chunks},
                                {"seconds", r.seconds},
                                {"tokens_per_s", tps},
                                {"loss", r.loss},
                                {"streamed", r.streamed},
                                {"spilled_bytes", r.spilled_bytes},
                                {"peak_rss_bytes", hwm},
                                {"rss_anon_bytes", anon},
                                {"rss_file_bytes", file},
                                {"max_memory_bytes", o.pass.max_memory}}
                     .dump(-1, ' ', false, nlohmann::json::error_handler_t::replace)
              << std::endl;
    return 0;
  }
  std::cerr << "scope: " << r.tokens << " tokens in " << r.seconds << " s (" << static_cast<int64_t>(tps) << " tokens/s"
            << (r.streamed ? ", streamed layer by layer" : "") << "); wrote " << o.out << "\n";
  std::cerr << "scope: peak RSS (VmHWM) " << format_bytes(double(hwm)) << "; at the end RssAnon "
            << format_bytes(double(anon)) << ", RssFile " << format_bytes(double(file))
            << (o.pass.max_memory ? "; --max-memory " + format_bytes(double(o.pass.max_memory)) : std::string())
            << "\n";
  o.run = o.out;
  return scope_run(o);
}
}  // namespace

Command register_scope(CLI::App& app) {
  auto o = std::make_shared<ScopeOpts>();
  auto* c = app.add_subcommand(
      "scope",
      "Per-layer routing health of a run (--run), or of a model over corpora at inference (--model --data --out)");
  auto* run_opt = c->add_option("--run", o->run, "Run directory (a training, compressed or `scope --model` run)");
  auto* model_opt =
      c->add_option("--model", o->model, "Model to scope at inference: a Hugging Face model directory or a run");
  run_opt->excludes(model_opt);
  c->add_option("--step", o->step, "Show the last log interval at or before this step (default: latest)");
  c->add_flag("--json", o->json, "Print the layer records (and the routing profile) as JSON");
  c->add_option("--tokens", o->tokens, "Most frequent tokens shown per expert (routing profile)")
      ->capture_default_str()
      ->check(CLI::Range(0, 1000));
  c->add_option("--data", o->data, "--model: corpus text file; give it twice or more to compare corpora")
      ->allow_extra_args(false);
  c->add_option("--out", o->out, "--model: new run directory for the records and the routing profile");
  c->add_option("--batch", o->pass.batch, "--model: windows per forward chunk")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  c->add_option("--seq-len", o->pass.seq_len, "--model: tokens per window (default capped at the model's max_seq_len)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 20));
  c->add_option("--log-every", o->pass.log_every, "--model: chunks per interval record")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  c->add_option("--coact-every", o->pass.coact_every,
                "--model: co-activation matrices in every N-th interval record (E x E per layer)")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(1), int64_t(1) << 40));
  c->add_option("--top-tokens", o->pass.top_tokens, "--model: tokens kept per expert in the profile")
      ->capture_default_str()
      ->check(CLI::Range(int64_t(0), int64_t(100000)));
  c->add_option("--device", o->device, "--model: cpu, cuda or auto")->capture_default_str();
  c->add_option(
      "--max-memory", o->max_memory,
      "--model: memory budget (e.g. 4G); a model that does not fit is streamed layer by layer (weights mapped, "
      "hidden states in memory or spilled to the run directory); too small a budget is refused");
  add_weights_option(c, &o->weights);
  add_dtype_option(
      c, &o->dtype,
      "--model: bf16 where this device's matmuls are natively and measurably faster in it, as train.dtype auto; "
      "the timing is kept per machine, so runs agree");
  c->add_option("--cache-dir", o->cache_dir,
                "--model: tokenised-corpus cache (default: data.cache_dir, else ~/.cache/moescope)");
  c->callback([c]() {
    if (c->count("--run") + c->count("--model") == 0) throw CLI::RequiredError("--run or --model");
    if (c->count("--run") && (c->count("--data") || c->count("--out") || c->count("--max-memory")))
      throw CLI::ValidationError("--data/--out/--max-memory", "go with --model, not --run");
  });
  return [o]() -> int {
    if (!o->model.empty()) return scope_model(*o);
    if (compress::is_compressed_run(o->run)) return scope_compressed(o->run, o->step, o->json);
    return scope_run(*o);
  };
}

}  // namespace moescope
