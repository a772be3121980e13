// tensor_fwd.h: forward declaration of at::Tensor, so op headers need no torch include.
#pragma once
namespace at {
class Tensor;
}
