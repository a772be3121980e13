// process_group.cpp: see process_group.h.
#include "dist/process_group.h"

#include <torch/csrc/distributed/c10d/FileStore.hpp>
#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/torch.h>

#include "dist/backend.h"
#include "dist/nccl_build.h"
#ifdef MOESCOPE_NCCL
#include <c10/cuda/CUDAFunctions.h>
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

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
  c10::intrusive_ptr<c10d::ProcessGroupGloo> pg;  // CPU tensors
  c10::intrusive_ptr<c10d::ProcessGroupGloo::Options> opts;
#ifdef MOESCOPE_NCCL
  // CUDA tensors: made when the first one reaches this group (every rank reaches it at the same
  // collective), over this group's store under the prefix "nccl"; NCCL itself builds its
  // communicator at that first collective (rank 0's unique id through the store).
  c10::intrusive_ptr<c10d::ProcessGroupNCCL> nccl;
#endif
  Group::CommSeconds spent;
  std::string label;  // a sub-group's " (split N, color C)"
  int splits = 0;     // sub-groups made from this group so far

  ~Impl() {
#ifdef MOESCOPE_NCCL
    // An orderly end of the NCCL communicators (else ProcessGroupNCCL's destructor warns and aborts them).
    if (nccl) try {
        nccl->shutdown();
      } catch (...) {
      }
#endif
  }

  std::chrono::milliseconds timeout() const {
    return std::chrono::milliseconds(static_cast<int64_t>(env.timeout_s * 1000));
  }
  std::string who() const {
    return "rank " + std::to_string(env.rank) + " of " + std::to_string(env.world_size) + label;
  }

  // The backend that carries a collective of `t` (dist/backend.h); an error names this rank and
  // the operation.
  Backend backend_of(const char* what, const at::Tensor& t) const {
    try {
      return backend_for_device(t.device().str());
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument(who() + ": collective '" + what + "': " + e.what());
    } catch (const std::runtime_error& e) {
      throw std::runtime_error(who() + ": collective '" + what + "': " + e.what());
    }
  }

#ifdef MOESCOPE_NCCL
  c10d::ProcessGroupNCCL& nccl_group() {
    if (!nccl) {
      auto o = c10d::ProcessGroupNCCL::Options::create();
      o->timeout = timeout();
      nccl = c10::make_intrusive<c10d::ProcessGroupNCCL>(c10::make_intrusive<c10d::PrefixStore>("nccl", store),
                                                         env.rank, env.world_size, o);
    }
    return *nccl;
  }
#endif

  // A collective of tensors on t's device: f(backend) starts it on Gloo (CPU) or NCCL (CUDA)
  // and returns its work, waited for by run().
  template <class F>
  void collective(const char* what, const at::Tensor& t, F&& f) {
    if (backend_of(what, t) == Backend::kGloo) {
      run(what, [&] { return f(*pg); });
      return;
    }
#ifdef MOESCOPE_NCCL
    run(
        what, [&] { return f(nccl_group()); }, /*host_blocking=*/true);
#endif
  }

  // Waits for the work f() returns. host_blocking (NCCL): wait(timeout) blocks this thread until
  // the GPU has finished the collective, or throws after the timeout (a plain NCCL wait() only
  // orders the current CUDA stream after it), so that every collective blocks and fails within
  // the timeout as Gloo's do, and the time counted is the collective's.
  template <class F>
  void run(const char* what, F&& f, bool host_blocking = false) {
    const auto t0 = std::chrono::steady_clock::now();
    struct Add {
      double& acc;
      std::chrono::steady_clock::time_point t0;
      ~Add() { acc += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count(); }
    } add{std::string(what) == "all_to_all" ? spent.all_to_all : spent.other, t0};
    try {
      if (host_blocking) f()->wait(timeout());
      else f()->wait();
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
  const std::string where = env.store_file.empty() ? "the TCPStore at MASTER_ADDR:MASTER_PORT = " + env.master_addr +
                                                         ":" + std::to_string(env.master_port)
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
    else opts->devices.push_back(c10d::ProcessGroupGloo::createDefaultDevice());
    impl->opts = opts;
    impl->pg = c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, env.rank, env.world_size, opts);
#ifdef MOESCOPE_NCCL
    // This rank's CUDA tensors ("cuda" without an index) go to GPU LOCAL_RANK (modulo the GPUs
    // seen), as torchrun scripts do with torch.cuda.set_device; MaybeSetDevice makes no CUDA
    // context until one is used (a CPU run on a GPU machine pays nothing).
    if (torch::cuda::is_available())
      c10::cuda::MaybeSetDevice(
          static_cast<c10::DeviceIndex>(static_cast<size_t>(env.local_rank) % torch::cuda::device_count()));
#endif
  } catch (const std::exception& e) {
    std::ostringstream m;
    m << "rank " << env.rank << " of " << env.world_size << ": rendezvous through " << where << " failed within "
      << env.timeout_s << " s (MOESCOPE_DIST_TIMEOUT_S)"
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
  impl_->collective("all_reduce", t, [&](auto& pg) { return pg.allreduce(v); });
}

void Group::all_reduce_max(at::Tensor& t) {
  std::vector<at::Tensor> v{t};
  c10d::AllreduceOptions o;
  o.reduceOp = c10d::ReduceOp::MAX;
  impl_->collective("all_reduce(max)", t, [&](auto& pg) { return pg.allreduce(v, o); });
}

void Group::broadcast(at::Tensor& t, int root) {
  std::vector<at::Tensor> v{t};
  c10d::BroadcastOptions o;
  o.rootRank = root;
  impl_->collective("broadcast", t, [&](auto& pg) { return pg.broadcast(v, o); });
}

void Group::all_to_all(at::Tensor& out, at::Tensor& in, const std::vector<int64_t>& out_splits,
                       const std::vector<int64_t>& in_splits) {
  auto sum = [](const std::vector<int64_t>& v) { return std::accumulate(v.begin(), v.end(), int64_t{0}); };
  if (out.scalar_type() != in.scalar_type() || out.device() != in.device() ||
      static_cast<int>(out_splits.size()) != size() || static_cast<int>(in_splits.size()) != size() ||
      sum(out_splits) != (out.dim() ? out.size(0) : 0) || sum(in_splits) != (in.dim() ? in.size(0) : 0))
    throw std::invalid_argument(
        "all_to_all: the splits (one per rank) must sum to the rows of in and out, of one dtype and device");
  auto os = out_splits, is = in_splits;
  impl_->collective("all_to_all", in, [&](auto& pg) { return pg.alltoall_base(out, in, os, is); });
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
  impl->store = c10::make_intrusive<c10d::PrefixStore>(
      "moescope/split" + std::to_string(n) + "/" + std::to_string(color), impl_->store);
  impl->opts = impl_->opts;
  try {
    impl->pg =
        c10::make_intrusive<c10d::ProcessGroupGloo>(impl->store, impl->env.rank, impl->env.world_size, impl->opts);
  } catch (const std::exception& e) {
    throw std::runtime_error("rank " + std::to_string(rank()) + " of " + std::to_string(size()) + impl_->label +
                             ": building the sub-group" + impl->label + " failed within " +
                             std::to_string(impl_->env.timeout_s) + " s: " + first_line(e.what()));
  }
  return std::unique_ptr<Group>(new Group(std::move(impl)));
}

struct Group::Pending::Impl {
  Group::Impl* g;
  std::vector<at::Tensor> v;
  c10::intrusive_ptr<c10d::Work> work;
  bool host_blocking = false;  // an NCCL work (Group::Impl::run)
  bool done = false;
};

Group::Pending::Pending(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Group::Pending::~Pending() {
  // An abandoned handle (an exception elsewhere) still waits, so the buffer outlives the work;
  // its error, if any, has been or will be reported by another collective.
  if (!impl_->done) try {
      if (impl_->host_blocking) impl_->work->wait(impl_->g->timeout());
      else impl_->work->wait();
    } catch (...) {
    }
}

void Group::Pending::wait() {
  if (impl_->done) return;
  impl_->done = true;
  impl_->g->run(
      "all_reduce", [&] { return impl_->work; }, impl_->host_blocking);
}

std::unique_ptr<Group::Pending> Group::all_reduce_sum_async(at::Tensor& t) {
  auto p = std::make_unique<Pending::Impl>();
  p->g = impl_.get();
  p->v = {t};
  const Backend b = impl_->backend_of("all_reduce", t);
  try {
    if (b == Backend::kGloo) p->work = impl_->pg->allreduce(p->v);
#ifdef MOESCOPE_NCCL
    else {
      p->work = impl_->nccl_group().allreduce(p->v);
      p->host_blocking = true;
    }
#endif
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
