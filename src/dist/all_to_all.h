// all_to_all.h: the differentiable token exchange of expert parallelism.
//   exchange_counts: every rank sends counts_WC[j] (C values) to rank j and gets rank j's
//     row for it back: the per-rank, per-expert counts go first, so that each rank can size
//     its receive buffers and knows which expert every received row is for.
//   all_to_all_rows: rows of x_ND [N, ...], grouped by destination rank (in_splits[j] rows to
//     rank j), arrive grouped by source rank (out_splits[j] rows from rank j). It is an autograd
//     function: backward runs the reverse exchange (the gradient rows go back where they came
//     from, splits swapped).
#pragma once
#include <vector>

#include "dist/process_group.h"

namespace moescope::dist {

// counts_WC: [W, C] int64 (row j for rank j). Returns [W, C]: row j = what rank j sent here.
at::Tensor exchange_counts(Group& g, const at::Tensor& counts_WC);

at::Tensor all_to_all_rows(Group& g, const at::Tensor& x_ND, const std::vector<int64_t>& in_splits,
                           const std::vector<int64_t>& out_splits);

}  // namespace moescope::dist
