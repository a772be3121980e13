// process_group.cpp: see process_group.h.
#include "dist/process_group.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include <chrono>
#include <numeric>
#include <sstream>
#include <stdexcept>

namespace moescope::dist {
namespace {

std::unique_ptr<Group> g_world;

// The first line of a c10d error (its full text carries a C++ backtrace).
std::string first_line(const std::string& s) {
  const auto n = s.find('\n');
  return n == std::string::npos ? s : s.substr(0, n);
}

bool loopback(const std::string& host) { return host == "localhost" || host.rfind("127.", 0) == 0 || host == "::1"; }

}  // namespace

struct Group::Impl {
  DistEnv env;
  c10::intrusive_ptr<c10d::Store> store;
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;
  c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> opts;
  Group::CommSeconds spent;
  std::string label;  // a sub-group's " (split N, color C)"
  int splits = 0;     // sub-groups made from this group so far

  template <class F>
  void run(const char* what, F&& f) {
    const auto t0 = std::chrono::steady_clock::now();
    struct Add {
      double& acc;
      std::chrono::steady_clock::time_point t0;
      ~Add() { acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
    } add{std::string(what) == "all_to_all" ? spent.all_to_all : spent.other, t0};
    try {
      f()->wait();
    } catch (const std::exception& e) {
      std::ostringstream m;
      m << "rank " << env.rank << " of " << env.world_size << label << ": collective '" << what
        << "' failed (a peer rank exited, or did not answer within the timeout of " << env.timeout_s
        << " s, MOESCOPE_DIST_TIMEOUT_S): " << first_line(e.what());
      throw std::runtime_error(m.str());
    }
  }
};

Group::Group(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
Group::~Group() = default;

std::unique_ptr<Group> Group::connect(const DistEnv& env) {
  auto impl = std::make_unique<Impl>();
  impl->env = env;
  const auto timeout = std::chrono::milliseconds(static_cast<int64_t>(env.timeout_s * 1000));
  const std::string where = env.store_file.empty()
                                ? "the TCPStore at MASTER_ADDR:MASTER_PORT = " + env.master_addr + ":" + std::to_string(env.master_port)
                                : "the FileStore " + env.store_file;
  try {
    if (!env.store_file.empty()) {
      auto fs = c10::make_intrusive<c10d::FileStore>(env.store_file, env.world_size);
      fs->setTimeout(timeout);
      impl->store = fs;
    } else {
      c10d::TCPStoreOptions o;
      o.port = static_cast<uint16_t>(env.master_port);
      o.isServer = env.rank == 0;
      o.numWorkers = static_cast<size_t>(env.world_size);
      o.waitWorkers = true;
      o.timeout = timeout;
      impl->store = c10::make_intrusive<c10d::TCPStore>(env.master_addr, o);
    }
    auto opts = c10d::ProcessGroupGloo::Options::create(timeout);
    if (!env.socket_ifname.empty())
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForInterface(env.socket_ifname));
    else if (loopback(env.master_addr))
      opts->devices.push_back(c10d::ProcessGroupGloo::createDeviceForHostname(env.master_addr));
    else
      opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl->opts = opts;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
  } catch (const std::exception& e) {
    std::ostringstream m;
    m << "rank " << env.rank << " of " << env.world_size << ": rendezvous through " << where
      << " failed within " << env.timeout_s << " s (MOESCOPE_DIST_TIMEOUT_S)"
      << (env.socket_ifname.empty() ? "" : ", GLOO_SOCKET_IFNAME=" + env.socket_ifname) << ": " << first_line(e.what());
    throw std::runtime_error(m.str());
  }
  return std::unique_ptr<Group>(new Group(std::move(impl)));
}

int Group::rank() const { return impl_->env.rank; }
int Group::size() const { return impl_->env.world_size; }
double Group::timeout_s() const { return impl_->env.timeout_s; }

void Group::all_reduce_sum(at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  impl_->run("all_reduce", [&] { return impl_->pg->allreduce(v); });
}

void Group::all_reduce_max(at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  impl_->run("all_reduce(max)", [&] { return impl_->pg->allreduce(v, o); });
}

void Group::all_reduce_min(at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MIN;
  impl_->run("all_reduce(min)", [&] { return impl_->pg->allreduce(v, o); });
}

void Group::broadcast(at::Tensor& t, int root) {
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->run("broadcast", [&] { return impl_->pg->broadcast(v, o); });
}

void Group::all_to_all(at::Tensor& out, at::Tensor& in, const std::vector<int64_t>& out_splits,
                       const std::vector<int64_t>& in_splits) {
  auto sum = [](const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); };
  if (out.scalar_type() != in.scalar_type() || static_cast<int>(out_splits.size()) != size() ||
      static_cast<int>(in_splits.size()) != size() || sum(out_splits) != (out.dim() ? out.size(0) : 0) ||
      sum(in_splits) != (in.dim() ? in.size(0) : 0))
    throw std::invalid_argument("all_to_all: the splits (one per rank) must sum to the rows of in and out, of one dtype");
  auto os = out_splits, is = in_splits;
  impl_->run("all_to_all", [&] { return impl_->pg->alltoall_base(out, in, os, is); });
}

std::vector<int64_t> Group::all_gather(int64_t v) {
  std::vector<at::Tensor> in{torch::tensor({v}, torch::kLong)};
  std::vector<std::vector<at::Tensor>> out(1);
  for (int r = 0; r < size(); ++r) out[0].push_back(torch::zeros({1}, torch::kLong));
  impl_->run("all_gather", [&] { return impl_->pg->allgather(out, in); });
  std::vector<int64_t> r;
  for (auto& t : out[0]) r.push_back(t.item<int64_t>());
  return r;
}

std::unique_ptr<Group> Group::split(int color) {
  const auto colors = all_gather(color);
  const int n = impl_->splits++;
  auto impl = std::make_unique<Impl>();
  impl->env = impl_->env;
  impl->env.rank = 0;
  impl->env.world_size = 0;
  for (int r = 0; r < size(); ++r)
    if (colors[static_cast<size_t>(r)] == color) {
      if (r == rank()) impl->env.rank = impl->env.world_size;
      ++impl->env.world_size;
    }
  impl->label = impl_->label + " (split " + std::to_string(n) + ", color " + std::to_string(color) + ")";
  impl->store = c10::make_intrusive<c10d::PrefixStore>("moescope/split" + std::to_string(n) + "/" + std::to_string(color), impl_->store);
  impl->opts = impl_->opts;
  try {
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, impl->env.rank, impl->env.world_size, impl->opts);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(rank()) + " of " + std::to_string(size()) + impl_->label +
                             ": building the sub-group" + impl->label + " failed within " + std::to_string(impl_->env.timeout_s) +
                             " s: " + first_line(e.what()));
  }
  return std::unique_ptr<Group>(new Group(std::move(impl)));
}

struct Group::Pending::Impl {
  Group::Impl* g;
  std::vector<at::Tensor> v;
  c10::intrusive_ptr<c10d::Work> work;
  bool done = false;
};

Group::Pending::Pending(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Group::Pending::~Pending() {
  // An abandoned handle (an exception elsewhere) still waits, so the buffer outlives the work;
  // its error, if any, has been or will be reported by another collective.
  if (!impl_->done) try {
      impl_->work->wait();
    } catch (...) {
    }
}

void Group::Pending::wait() {
  if (impl_->done) return;
  impl_->done = true;
  impl_->g->run("all_reduce", [&] { return impl_->work; });
}

std::unique_ptr<Group::Pending> Group::all_reduce_sum_async(at::Tensor& t) {
  auto p = std::make_unique<Pending::Impl>();
  p->g = impl_.get();
  p->v = {t};
  try {
    p->work = impl_->pg->allreduce(p->v);
  } catch (const std::exception& e) {
    p->done = true;
    impl_->run("all_reduce", [&]() -> c10::intrusive_ptr<c10d::Work> { throw; });
  }
  return std::unique_ptr<Pending>(new Pending(std::move(p)));
}

void Group::barrier() {
  impl_->run("barrier", [&] { return impl_->pg->barrier(); });
}

Group::CommSeconds Group::take_comm_seconds() {
  const CommSeconds s = impl_->spent;
  impl_->spent = CommSeconds{};
  return s;
}

Group* world() { return g_world.get(); }
void set_world(std::unique_ptr<Group> g) { g_world = std::move(g); }

}  // namespace moescope::dist
