// dtype_choice.cpp: see dtype_choice.h.
#include "train/dtype_choice.h"

#include <atomic>
#include <iomanip>

#include "core/precision.h"
#include "ops/device_info.h"

namespace moescope {

DType resolve_train_dtype(DType requested, const std::string& device, std::ostream& log) {
  const DtypeDecision d =
      decide_dtype(requested, precision_hardware(device, /*measure_cpu_bf16=*/requested == DType::kAuto, &log));
  log << d.reason << "\n";
  static std::atomic<bool> warned{false};
  if (d.emulated_bf16 && !warned.exchange(true)) {
    const double slow = measured_bf16_slowdown(device);
    log << "warning: train.dtype = bf16 on a device without native bf16: a bf16 matmul measured " << std::fixed
        << std::setprecision(1) << slow << "x slower than fp32 here; train.dtype = auto (or fp32) avoids it\n"
        << std::defaultfloat;
  }
  return d.dtype;
}

DType resolve_batch_dtype(DType requested, const std::string& device, const std::string& what, std::ostream& log) {
  const DtypeDecision d = decide_dtype(requested, precision_hardware(device, requested == DType::kAuto, &log));
  std::string reason = d.reason;
  const std::string prefix = "train.dtype ";
  if (reason.rfind(prefix, 0) == 0) reason = "--dtype " + reason.substr(prefix.size()) + ", a batch forward";
  log << what << ": compute dtype " << enum_name(d.dtype) << " (" << reason << ")\n";
  return d.dtype;
}

}  // namespace moescope
