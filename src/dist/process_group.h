// process_group.h: the world process group of a multi-process run, over LibTorch's c10d.
// The backend follows the device of the tensors (dist/backend.h): ProcessGroupGloo for CPU
// tensors; ProcessGroupNCCL for CUDA tensors in a build with NCCL (a CUDA LibTorch >= 2.4),
// made over the same store when the first CUDA tensor reaches the group; in a build without
// it a CUDA tensor is refused (std::runtime_error naming the build option). all_gather and
// barrier are host-side and always run on Gloo.
// connect() does the rendezvous: rank 0 serves a TCPStore at MASTER_ADDR:MASTER_PORT (or all
// ranks share a FileStore), then the Gloo group is built with DistEnv::timeout_s as its
// collective timeout, on GLOO_SOCKET_IFNAME when set, else on the interface of MASTER_ADDR's
// host name; with NCCL, this rank's current CUDA device becomes LOCAL_RANK (modulo the GPUs).
// Every collective blocks until done (an NCCL one until the GPU has finished it); a failure (a
// peer that died, a timeout) throws std::runtime_error naming this rank, the operation and the
// timeout. c10d stays out of this header.
// The process-wide world (set_world / world()) is null in a single-process run: callers test it
// and do nothing else, so a run of one process pays nothing.
#pragma once
#include <memory>
#include <string>
#include <vector>

#include "dist/dist_env.h"
#include "ops/tensor_fwd.h"

namespace moescope::dist {

class Group {
 public:
  // Throws std::runtime_error (naming the store address or file and the timeout) when the
  // rendezvous fails.
  static std::unique_ptr<Group> connect(const DistEnv& env);
  ~Group();
  int rank() const;
  int size() const;
  double timeout_s() const;

  void all_reduce_sum(at::Tensor& t);  // in place, contiguous CPU or CUDA tensor
  void all_reduce_max(at::Tensor& t);
  void broadcast(at::Tensor& t, int root);
  // Variable-split all-to-all along dim 0: rank r sends in.narrow(0, sum(in_splits[:j]), in_splits[j])
  // to rank j and receives out_splits[j] rows from rank j into out (sized sum(out_splits); the
  // same dtype and device as in).
  void all_to_all(at::Tensor& out, at::Tensor& in, const std::vector<int64_t>& out_splits,
                  const std::vector<int64_t>& in_splits);
  std::vector<int64_t> all_gather(int64_t v);  // one value per rank, in rank order
  // A sum all-reduce started now, in place on `t` (contiguous CPU or CUDA, kept alive by the handle),
  // finished by the handle's wait(), which throws like the blocking calls; only the time spent
  // in wait() counts as collective time (take_comm_seconds). Every rank must start its
  // collectives of this group in the same order.
  class Pending {
   public:
    ~Pending();
    void wait();

   private:
    friend class Group;
    struct Impl;
    explicit Pending(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  std::unique_ptr<Pending> all_reduce_sum_async(at::Tensor& t);
  void barrier();
  // A sub-group: every rank of this group calls split (a collective) with its own color; the
  // ranks of one color form a group of their own, ranked in this group's rank order, with its
  // own Gloo group (and NCCL group, at its first CUDA tensor) over this group's store (under a
  // prefix naming the split and the color) and the same timeout. Its errors name the sub-group ("rank 1 of 2 (split 0,
  // color 1)").
  std::unique_ptr<Group> split(int color);

  // Wall seconds this rank spent in collectives (waiting for peers included) since the last
  // call: all-to-all separately from the rest. Reset by the call.
  struct CommSeconds {
    double all_to_all = 0, other = 0;
  };
  CommSeconds take_comm_seconds();

 private:
  struct Impl;
  explicit Group(std::unique_ptr<Impl> impl);
  std::unique_ptr<Impl> impl_;
};

// The process-wide world group (null: single process).
Group* world();
void set_world(std::unique_ptr<Group> g);

}  // namespace moescope::dist
