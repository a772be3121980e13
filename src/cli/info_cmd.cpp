// info_cmd.cpp: `moescope info [--json] [--no-probe]`: the machine as moescope sees it: CPU
// model and features, intra-op threads and why, the BLAS in use, CUDA devices, the dtype that
// train.dtype = "auto" picks per device, and (unless --no-probe) fp32/bf16 matmul throughput
// measured now, with the bf16 slowdown factor where bf16 is emulated.
#include <iomanip>
#include <iostream>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <torch/torch.h>

#include "cli/commands.h"
#include "core/cpu_features.h"
#include "core/precision.h"
#include "ops/runtime.h"
#include "ops/device_info.h"

namespace moescope {
namespace {

nlohmann::json collect(bool probe) {
  const auto& cpu = host_cpu_features();
  nlohmann::json j;
  j["cpu"] = {{"model", cpu.model_name},
              {"logical_cpus", cpu.logical_cpus},
              {"isa", cpu.isa_level()},
              {"features", cpu.notable_flags()},
              {"native_bf16", cpu.native_bf16()}};
  j["threads"] = {{"intra_op", at::get_num_threads()},
                  {"inter_op", at::get_num_interop_threads()},
                  {"rule", thread_rule_description()}};
  j["blas"] = blas_summary();
  const bool cuda = torch::cuda::is_available();
  j["cuda"] = {{"available", cuda}, {"devices", cuda ? cuda_devices_summary() : std::string()}};
  j["libtorch"] = TORCH_VERSION;
  // One measurement serves both the printed throughput and the CPU's "auto" decision.
  double f32 = 0, b16 = 0;
  if (probe) {
    f32 = matmul_gflops("fp32", 512, 0.3);
    b16 = matmul_gflops("bf16", 512, 0.3);
    j["matmul_gflops_512"] = {{"fp32", f32}, {"bf16", b16}, {"bf16_over_fp32", b16 / f32}};
  }
  nlohmann::json auto_pick;
  for (const std::string dev : {"cpu", "cuda"}) {
    if (dev == "cuda" && !cuda) continue;
    PrecisionHardware hw = precision_hardware(dev);
    if (dev == "cpu" && probe && hw.cpu_native_bf16) hw.cpu_bf16_speedup = b16 / f32;
    auto d = decide_dtype(DType::kAuto, hw);
    if (dev == "cpu" && !probe && hw.cpu_native_bf16)
      d.reason += "; bf16 speed not measured (--no-probe): a training run measures it and may pick fp32";
    auto_pick[dev] = {{"dtype", enum_name(d.dtype)}, {"reason", d.reason}};
  }
  j["auto_dtype"] = auto_pick;
  return j;
}

void print_text(const nlohmann::json& j) {
  std::cout << "cpu:       " << j["cpu"]["model"].get<std::string>() << ", " << j["cpu"]["logical_cpus"]
            << " logical CPUs, " << j["cpu"]["isa"].get<std::string>() << "\n  features: ";
  for (const auto& f : j["cpu"]["features"]) std::cout << f.get<std::string>() << " ";
  std::cout << "\nthreads:   " << j["threads"]["intra_op"] << " intra-op (" << j["threads"]["rule"].get<std::string>()
            << ")\nblas:      " << j["blas"].get<std::string>() << "\nlibtorch:  " << j["libtorch"].get<std::string>()
            << "\ncuda:      "
            << (j["cuda"]["available"].get<bool>() ? j["cuda"]["devices"].get<std::string>() : std::string("none"))
            << "\n";
  for (const auto& [dev, d] : j["auto_dtype"].items())
    std::cout << "auto dtype on " << dev << ": " << d["dtype"].get<std::string>() << " ("
              << d["reason"].get<std::string>() << ")\n";
  if (j.contains("matmul_gflops_512")) {
    const auto& m = j["matmul_gflops_512"];
    std::cout << std::fixed << std::setprecision(1) << "matmul 512^3 on cpu: fp32 " << m["fp32"].get<double>()
              << " GFLOP/s, bf16 " << m["bf16"].get<double>() << " GFLOP/s (bf16/fp32 " << std::setprecision(2)
              << m["bf16_over_fp32"].get<double>() << "x)\n";
  }
}

}  // namespace

Command register_info(CLI::App& app) {
  struct Opts {
    bool json = false, no_probe = false;
  };
  auto o = std::make_shared<Opts>();
  auto* c = app.add_subcommand("info", "Show the CPU features, threads, BLAS, CUDA devices and the dtype 'auto' picks");
  c->add_flag("--json", o->json, "Print one JSON object");
  c->add_flag("--no-probe", o->no_probe, "Skip the matmul throughput measurement (about 1 s)");
  return [o]() {
    const auto j = collect(!o->no_probe);
    if (o->json) std::cout << j.dump(2) << std::endl;
    else print_text(j);
    return 0;
  };
}

}  // namespace moescope
