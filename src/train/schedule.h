// schedule.h: learning rate at an optimizer step: linear warmup, then cosine decay.
//   step < W:  lr * (step + 1) / W
//   else:      lr * (r + (1 - r) * 0.5 * (1 + cos(pi * min(1, (step - W) / max(1, N - W)))))
// with W = warmup_steps, N = max_steps, r = min_lr_ratio.
#pragma once
#include <cmath>
#include <cstdint>

#include "core/config.h"

namespace moescope {

inline double lr_at(int64_t step, const TrainConfig& c) {
  if (step < c.warmup_steps) return c.lr * static_cast<double>(step + 1) / static_cast<double>(c.warmup_steps);
  const double span = static_cast<double>(std::max<int64_t>(1, c.max_steps - c.warmup_steps));
  const double prog = std::min(1.0, static_cast<double>(step - c.warmup_steps) / span);
  return c.lr * (c.min_lr_ratio + (1.0 - c.min_lr_ratio) * 0.5 * (1.0 + std::cos(M_PI * prog)));
}

}  // namespace moescope
