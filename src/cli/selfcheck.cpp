// selfcheck.cpp: see selfcheck.h. Checks: forward/backward finite, cached decoding matches a
// full forward, each MoE layer routes exactly top_k experts per token, and the bias update
// moves the bias toward balance. Runs on train.device (cpu, cuda, or auto = cuda when present);
// the model and the tokens are drawn on the CPU first, so a seed gives the same check anywhere.
#include "cli/selfcheck.h"

#include <CLI/CLI.hpp>

#include "cli/commands.h"

#include <iostream>

#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "core/host_memory.h"
#include "model/resource_estimate.h"
#include "ops/runtime.h"
#include "model/transformer.h"
#include "train/loaded_run.h"

namespace moescope {

int run_selfcheck(const Config& cfg, uint64_t seed, uint64_t max_memory_bytes) {
  seed_everything(seed);
  const auto& mc = cfg.model;
  const std::string device = resolve_device(enum_name(cfg.train.device));
  const torch::Device dev = to_device(device);
  // The configured model's training footprint, before anything is allocated.
  const ResourceEstimate est = estimate_resources(mc, cfg.train);
  std::cerr << "memory estimate: " << est.summary() << "\n";
  if (max_memory_bytes > 0) check_fits_memory(est, static_cast<double>(max_memory_bytes), "--max-memory");
  else if (device == "cpu")
    check_fits_memory(est, static_cast<double>(available_memory_bytes()), "MemAvailable, /proc/meminfo");
  Transformer model(mc);
  model->to(dev);
  const int64_t B = 2, S = std::min<int64_t>(16, mc.max_seq_len);
  auto tokens = torch::randint(mc.vocab_size, {B, S}, torch::kLong).to(dev);
  nlohmann::json out;
  out["device"] = dev.str();
  bool ok = true;
  auto check = [&](const std::string& name, bool pass, nlohmann::json detail) {
    out["checks"][name] = {{"pass", pass}, {"detail", detail}};
    ok = ok && pass;
  };

  model->train();
  auto fwd = model->forward(tokens);
  auto loss = torch::nn::functional::cross_entropy(fwd.logits_BSV.reshape({B * S, -1}).narrow(0, 0, B * S - 1),
                                                   tokens.reshape({-1}).narrow(0, 1, B * S - 1)) +
              fwd.aux_loss;
  loss.backward();
  bool finite_grads = true;
  for (auto& p : model->parameters())
    if (p.grad().defined()) finite_grads = finite_grads && torch::isfinite(p.grad()).all().item<bool>();
  check("forward_backward_finite", std::isfinite(loss.item<double>()) && finite_grads, {{"loss", loss.item<double>()}});

  nlohmann::json routing = nlohmann::json::array();
  bool k_ok = true;
  for (auto* m : model->moe_layers()) {
    const auto& r = m->last();
    auto counts_E = r.counts_E.to(torch::kCPU).contiguous();
    k_ok = k_ok && counts_E.sum().item<int64_t>() == r.n_tokens * m->cfg().top_k;
    std::vector<int64_t> counts(counts_E.data_ptr<int64_t>(), counts_E.data_ptr<int64_t>() + counts_E.numel());
    routing.push_back(counts);
  }
  check("topk_slots", k_ok, {{"counts_per_layer", routing}});

  model->eval();
  torch::NoGradGuard ng;
  auto full = model->forward(tokens).logits_BSV;
  KVCache cache(mc, B, S, at::kFloat, dev);
  std::vector<at::Tensor> steps;
  for (int64_t t = 0; t < S; ++t) steps.push_back(model->forward(tokens.narrow(1, t, 1), t, &cache).logits_BSV);
  double diff = (torch::cat(steps, 1) - full).abs().max().item<double>();
  check("kv_cache_matches_full_forward", diff < 1e-4, {{"max_abs_diff", diff}, {"tolerance", 1e-4}});
  check("kv_cache_bytes_per_token", cache.bytes_per_token() == cache_bytes_per_token(mc, 4),
        {{"measured", cache.bytes_per_token()}, {"formula", cache_bytes_per_token(mc, 4)}});

  nlohmann::json terms = nlohmann::json::object();
  for (const auto& t : est.resident) terms[t.name] = t.bytes;
  terms[est.activations.name] = est.activations.bytes;
  terms[est.checkpoint.name] = est.checkpoint.bytes;
  out["memory_estimate"] = {{"train_peak_bytes", est.train_peak_bytes()},
                            {"terms", terms},
                            {"kv_cache_bytes", est.kv_cache.bytes},
                            {"params_total", est.params_total},
                            {"params_active", est.params_active}};
  check("estimate_matches_params",
        est.params_total == static_cast<double>(model->num_params()) &&
            est.params_active == static_cast<double>(model->num_active_params()),
        {{"estimated", est.params_total}, {"built", model->num_params()}});
  out["params_total"] = model->num_params();
  out["params_active"] = model->num_active_params();
  out["moe_layers"] = mc.n_moe_layers();
  out["ok"] = ok;
  std::cout << out.dump(2) << std::endl;
  return ok ? 0 : 1;
}

Command register_selfcheck(CLI::App& app) {
  struct Opts {
    std::string config = "configs/tiny.toml";
    std::vector<std::string> sets;
    uint64_t seed = 1234;
    std::string max_memory;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("selfcheck", "Build the configured model and check it end to end");
  c->add_option("--config", o->config, "TOML preset")->capture_default_str();
  c->add_option("--set", o->sets, "Override a config key: key=value (repeatable)");
  c->add_option("--seed", o->seed, "Random seed")->capture_default_str();
  c->add_option("--max-memory", o->max_memory,
                "Refuse when the training memory estimate exceeds this (e.g. 8G); default: MemAvailable on the CPU");
  return [o]() {
    const uint64_t max_memory = o->max_memory.empty() ? 0 : parse_byte_size(o->max_memory, "--max-memory");
    return run_selfcheck(load_config(o->config, o->sets), o->seed, max_memory);
  };
}

}  // namespace moescope
