// nccl_check_main.cpp: `nccl_check`, the check of a CUDA build's NCCL path (built only when the
// LibTorch is a CUDA one; scripts/cuda_link_check.sh builds and runs it in CI,
// scripts/gpu_check.sh on a lent GPU). Linking it pulls in the world group's code, so a build
// whose NCCL path does not compile or link fails here. Run:
//   - everywhere: fails unless the NCCL path was compiled in (dist::nccl_compiled()), then a
//     world group of one rank (FileStore rendezvous, as a one-process launch) sums a CPU tensor
//     over Gloo: the CUDA build runs on a CPU-only machine;
//   - where CUDA is available: the same group's collectives on CUDA tensors through
//     ProcessGroupNCCL at world size 1 (all-reduce sum and max, broadcast, the variable-split
//     all-to-all and its autograd exchange, the asynchronous all-reduce, the bucketed
//     collectives over CUDA and CPU tensors together), each result checked
//     exactly against the value it must have (a world of one: the input itself, moved through
//     NCCL's buffers into a tensor that held something else).
// Exit status 0 when every check passed; each check prints one line.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <string>

#include <torch/torch.h>

#include "dist/all_to_all.h"
#include "dist/backend.h"
#include "dist/collectives.h"
#include "dist/process_group.h"

namespace {

int g_failed = 0;

void check(bool ok, const std::string& what) {
  std::printf("%s %s\n", ok ? "ok  " : "FAIL", what.c_str());
  if (!ok) ++g_failed;
}

void cuda_checks(moescope::dist::Group& g) {
  using moescope::dist::Backend;
  const torch::Device cuda(torch::kCUDA);
  check(moescope::dist::backend_for_device(cuda.str()) == Backend::kNccl, "a CUDA tensor's backend is nccl");
  // Values that are exact in bf16 and fp32 alike.
  at::Tensor want_N = torch::arange(1, 65, torch::kFloat32);
  at::Tensor t = want_N.to(cuda);
  g.all_reduce_sum(t);
  check(torch::equal(t.cpu(), want_N), "all_reduce_sum of a CUDA fp32 tensor (world 1: unchanged)");
  at::Tensor h = want_N.to(cuda, torch::kBFloat16);
  g.all_reduce_max(h);
  check(torch::equal(h.cpu().to(torch::kFloat32), want_N), "all_reduce_max of a CUDA bf16 tensor");
  at::Tensor b = torch::full({3, 5}, 7.0, torch::TensorOptions().device(cuda));
  g.broadcast(b, 0);
  check(torch::equal(b.cpu(), torch::full({3, 5}, 7.0)), "broadcast from rank 0");
  // all_to_all: 6 rows x 4 go to rank 0 (itself) into a tensor that held NaN.
  at::Tensor in_ND = torch::arange(24, torch::kFloat32).view({6, 4}).to(cuda);
  at::Tensor out_ND = torch::full({6, 4}, std::nan(""), in_ND.options());
  g.all_to_all(out_ND, in_ND, {6}, {6});
  check(torch::equal(out_ND.cpu(), in_ND.cpu()), "all_to_all (variable splits) of CUDA rows");
  // The differentiable exchange of expert parallelism: forward rows, backward gradients.
  at::Tensor x_ND = torch::randn({5, 3}, torch::TensorOptions().device(cuda).requires_grad(true));
  at::Tensor y_ND = moescope::dist::all_to_all_rows(g, x_ND, {5}, {5});
  (y_ND * 2).sum().backward();
  check(torch::equal(y_ND.detach().cpu(), x_ND.detach().cpu()) &&
            torch::equal(x_ND.grad().cpu(), torch::full({5, 3}, 2.f)),
        "all_to_all_rows forward and backward on CUDA");
  at::Tensor a = want_N.to(cuda);
  auto pending = g.all_reduce_sum_async(a);
  pending->wait();
  check(torch::equal(a.cpu(), want_N), "all_reduce_sum_async + wait on CUDA");
  // Many tensors of both devices (a CUDA run's model state): buckets split by device, CUDA ones
  // over NCCL, CPU ones over Gloo.
  std::vector<at::Tensor> ts{want_N.to(cuda), want_N.clone(), want_N.to(cuda)};
  moescope::dist::broadcast_all(g, ts, 0);
  moescope::dist::all_reduce_mean(g, ts);
  check(torch::equal(ts[0].cpu(), want_N) && torch::equal(ts[1], want_N) && torch::equal(ts[2].cpu(), want_N),
        "broadcast_all and all_reduce_mean of CUDA and CPU tensors together");
  const auto secs = g.take_comm_seconds();
  check(secs.all_to_all > 0 && secs.other > 0, "collective time counted (all_to_all " +
                                                   std::to_string(secs.all_to_all) + " s, other " +
                                                   std::to_string(secs.other) + " s)");
}

}  // namespace

int main() {
  try {
    check(moescope::dist::nccl_compiled(), "this build compiled the NCCL path (dist/nccl_build.h)");
    if (g_failed) return 1;
    char dir[] = "/tmp/moescope-nccl-check-XXXXXX";
    if (!mkdtemp(dir)) throw std::runtime_error("mkdtemp failed");
    moescope::dist::DistEnv env;
    env.store_file = std::string(dir) + "/store";
    env.timeout_s = 120;
    auto g = moescope::dist::Group::connect(env);
    at::Tensor c = torch::arange(8, torch::kFloat64);
    g->all_reduce_sum(c);
    check(torch::equal(c, torch::arange(8, torch::kFloat64)), "all_reduce_sum of a CPU tensor over Gloo (world 1)");
    if (torch::cuda::is_available()) {
      std::printf("CUDA: %d device(s); NCCL collectives at world size 1\n",
                  static_cast<int>(torch::cuda::device_count()));
      cuda_checks(*g);
    } else {
      std::printf("no CUDA device: the NCCL collectives are not run (compiled and linked only)\n");
    }
    g.reset();
    std::remove(env.store_file.c_str());
    rmdir(dir);
  } catch (const std::exception& e) {
    std::printf("FAIL %s\n", e.what());
    return 1;
  }
  std::printf("nccl_check: %s\n", g_failed ? "FAILED" : "passed");
  return g_failed ? 1 : 0;
}
