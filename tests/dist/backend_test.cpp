// backend_test.cpp: which backend carries a device's collectives (dist/backend.h), checked
// without a GPU: cpu tensors go over Gloo in every build; cuda ones over NCCL where it is
// compiled in, and where it is not, a multi-process CUDA request (the trainer asks the same
// function) is refused with an error naming the build option; other device kinds are refused by
// name, also by the world group itself (a one-rank group over a FileStore).
// MOESCOPE_EXPECT_NCCL (tests/CMakeLists.txt: a CUDA LibTorch >= 2.4) is what this build must
// have compiled: a CUDA build that silently lost the NCCL path fails here.
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <string>

#include <torch/torch.h>

#include "dist/backend.h"
#include "dist/process_group.h"

namespace moescope::dist {
namespace {

// The message of the exception f throws as E ("" when it throws nothing).
template <class E, class F>
std::string error_of(F&& f) {
  try {
    f();
  } catch (const E& e) {
    return e.what();
  }
  return "";
}

bool has(const std::string& s, const std::string& part) { return s.find(part) != std::string::npos; }

TEST(Backend, CpuTensorsGoOverGlooInEveryBuild) {
  EXPECT_EQ(backend_for_device("cpu", /*have_nccl=*/false), Backend::kGloo);
  EXPECT_EQ(backend_for_device("cpu", /*have_nccl=*/true), Backend::kGloo);
  EXPECT_STREQ(backend_name(Backend::kGloo), "gloo");
}

TEST(Backend, CudaTensorsGoOverNcclWhereItIsCompiled) {
  EXPECT_EQ(backend_for_device("cuda", /*have_nccl=*/true), Backend::kNccl);
  EXPECT_EQ(backend_for_device("cuda:1", /*have_nccl=*/true), Backend::kNccl);
  EXPECT_STREQ(backend_name(Backend::kNccl), "nccl");
}

TEST(Backend, CudaWithoutNcclIsRefusedNamingTheBuild) {
  const std::string msg = error_of<std::runtime_error>([] { backend_for_device("cuda:0", /*have_nccl=*/false); });
  EXPECT_TRUE(has(msg, "device 'cuda:0'")) << msg;
  EXPECT_TRUE(has(msg, "needs NCCL")) << msg;
  EXPECT_TRUE(has(msg, "MOESCOPE_TORCH_CUDA=ON")) << msg;
  EXPECT_TRUE(has(msg, "train.device=cpu")) << msg;
}

TEST(Backend, OtherDeviceKindsAreRefusedByName) {
  for (const std::string d : {"meta", "mps", "xpu:0", "cudax", ""}) {
    const std::string msg = error_of<std::invalid_argument>([&] { backend_for_device(d, /*have_nccl=*/true); });
    EXPECT_TRUE(has(msg, "device '" + d + "'")) << d << ": " << msg;
  }
}

TEST(Backend, ThisBuildHasTheNcclPathItShould) {
  EXPECT_EQ(nccl_compiled(), bool(MOESCOPE_EXPECT_NCCL));
  if (nccl_compiled()) {
    EXPECT_EQ(backend_for_device("cuda"), Backend::kNccl);
  } else {
    // The default is this build's: a multi-process CUDA run is refused, clearly.
    EXPECT_TRUE(has(error_of<std::runtime_error>([] { backend_for_device("cuda"); }), "needs NCCL"));
  }
}

// The world group picks the backend per tensor: a device kind without one is refused before
// anything is sent, naming the rank, the collective and the device; a CPU tensor still goes.
TEST(Backend, TheGroupRefusesATensorWithoutABackend) {
  char dir[] = "/tmp/moescope-backend-test-XXXXXX";
  ASSERT_NE(mkdtemp(dir), nullptr);
  DistEnv env;
  env.store_file = std::string(dir) + "/store";
  env.timeout_s = 30;
  auto g = Group::connect(env);
  at::Tensor m = torch::empty({4}, torch::TensorOptions().device(torch::kMeta));
  std::string msg = error_of<std::invalid_argument>([&] { g->all_reduce_sum(m); });
  EXPECT_TRUE(has(msg, "rank 0 of 1: collective 'all_reduce'") && has(msg, "device 'meta'")) << msg;
  msg = error_of<std::invalid_argument>([&] { g->all_reduce_sum_async(m); });
  EXPECT_TRUE(has(msg, "device 'meta'")) << msg;
  msg = error_of<std::invalid_argument>([&] { g->broadcast(m, 0); });
  EXPECT_TRUE(has(msg, "collective 'broadcast'")) << msg;
  // all_to_all: in and out on different devices are refused as a bad call.
  at::Tensor in = torch::ones({4});
  msg = error_of<std::invalid_argument>([&] { g->all_to_all(m, in, {4}, {4}); });
  EXPECT_TRUE(has(msg, "one dtype and device")) << msg;
  at::Tensor c = torch::arange(4, torch::kFloat64);
  g->all_reduce_sum(c);
  EXPECT_TRUE(torch::equal(c, torch::arange(4, torch::kFloat64)));
  g.reset();
  std::remove(env.store_file.c_str());
  rmdir(dir);
}

}  // namespace
}  // namespace moescope::dist
