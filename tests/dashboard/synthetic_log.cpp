// synthetic_log.cpp: synthetic run logs for the dashboard tests and benchmark (see synthetic_log.h).
#include "synthetic_log.h"

#include <cmath>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>
#include <stdexcept>
#include <vector>

namespace moescope::testing {
namespace {

void num(std::string& s, double v) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.6g", v);
  s += buf;
}

}  // namespace

std::string synthetic_train_line(const SyntheticLogSpec& spec, int64_t step, bool coactivation) {
  std::mt19937_64 rng(spec.seed * 1000003u + uint64_t(step));
  std::uniform_real_distribution<double> u(0.0, 1.0);
  const int E = spec.experts;
  std::string s = "{\"schema\":1,\"type\":\"train\",\"step\":" + std::to_string(step) + ",\"loss\":";
  num(s, 4.0 * std::exp(-double(step) / 5000.0) + 1.5 + 0.05 * u(rng));
  s += ",\"lr\":";
  num(s, 3e-4 * std::min(1.0, double(step) / 500.0));
  s += ",\"grad_norm\":";
  num(s, 0.5 + u(rng));
  s += ",\"tokens_per_s\":";
  num(s, 4000 + 200 * u(rng));
  s += ",\"skipped_steps\":0,\"elapsed_s\":";
  num(s, double(step) * 0.1);
  s += ",\"moe\":[";
  for (int l = 0; l < spec.layers; ++l) {
    std::vector<double> load(static_cast<size_t>(E), 0.0);
    double total = 0;
    for (int e = 0; e < E; ++e) total += load[size_t(e)] = e == 0 && l % 7 == 3 ? 4.0 + u(rng) : 0.5 + u(rng);
    double ent = 0;
    for (double& x : load) {
      x /= total;
      ent -= x > 0 ? x * std::log(x) : 0;
    }
    s += l ? ",{" : "{";
    s += "\"layer\":" + std::to_string(l + 1);
    auto vec = [&](const char* name, auto f) {
      s += std::string(",\"") + name + "\":[";
      for (int e = 0; e < E; ++e) {
        if (e) s += ',';
        num(s, f(e));
      }
      s += ']';
    };
    vec("load", [&](int e) { return load[size_t(e)]; });
    vec("counts", [&](int e) { return std::round(load[size_t(e)] * 8192); });
    vec("bias", [&](int e) { return 0.01 * (u(rng) - 0.5) * double(e % 5); });
    vec("expert_grad_norm", [&](int) { return 0.05 * u(rng); });
    s += ",\"dead\":[";
    if (l % 11 == 5) s += std::to_string(E - 1);
    s += "],\"entropy_norm\":";
    num(s, ent / std::log(double(E)));
    s += ",\"n_eff\":";
    num(s, std::exp(ent));
    for (const char* k : {"cv", "min_max_ratio", "maxvio_batch", "router_entropy", "top1_score", "logit_rms",
                          "logit_max", "drop_rate", "bias_min", "bias_max", "bias_std", "bias_intervention",
                          "balance_loss", "z_loss", "seq_balance_loss", "router_grad_norm"}) {
      s += std::string(",\"") + k + "\":";
      num(s, u(rng));
    }
    s += ",\"status\":\"ok\"";
    if (coactivation) {
      s += ",\"coactivation\":[";
      for (int i = 0; i < E; ++i) {
        s += i ? ",[" : "[";
        for (int j = 0; j < E; ++j) s += (j ? "," : "") + std::to_string(i == j ? 8000 : int(500 * u(rng)));
        s += ']';
      }
      s += ']';
    }
    s += '}';
  }
  s += "]}";
  return s;
}

uint64_t write_synthetic_run(const std::string& dir, const SyntheticLogSpec& spec, bool append) {
  std::filesystem::create_directories(dir);
  const auto mode = append ? std::ios::app : std::ios::trunc;
  std::ofstream m(dir + "/metrics.jsonl", std::ios::binary | mode), a(dir + "/alerts.jsonl", std::ios::binary | mode);
  if (!m || !a) throw std::runtime_error("cannot write synthetic run in " + dir);
  uint64_t bytes = 0;
  for (int64_t i = 0; i < spec.records; ++i) {
    const int64_t step = spec.first_step + i * spec.every;
    const bool coact = spec.coactivation_every > 0 && i % spec.coactivation_every == spec.coactivation_every - 1;
    std::string line = synthetic_train_line(spec, step, coact) + "\n";
    if (spec.eval_every > 0 && i % spec.eval_every == spec.eval_every - 1) {
      line += "{\"schema\":1,\"type\":\"eval\",\"step\":" + std::to_string(step) +
              ",\"val_loss\":2.5,\"val_ppl\":12.2,\"moe\":[";
      for (int l = 0; l < spec.layers; ++l)
        line += (l ? "," : "") + std::string("{\"layer\":") + std::to_string(l + 1) +
                ",\"maxvio_global\":" + std::to_string(0.1 * (l + 1)) + "}";
      line += "]}\n";
    }
    m << line;
    bytes += line.size();
    if (spec.alert_every > 0 && i % spec.alert_every == spec.alert_every - 1)
      a << "{\"schema\":1,\"step\":" << step
        << ",\"layer\":4,\"experts\":[0],\"rule\":\"high_maxvio\",\"severity\":\"warning\",\"began_step\":" << step
        << ",\"evidence\":{\"maxvio_batch\":2.5},\"fix\":\"raise moe.bias_update_rate\"}\n";
  }
  if (!m || !a) throw std::runtime_error("write failed in " + dir);
  return bytes;
}

}  // namespace moescope::testing
