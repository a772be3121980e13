// config_enums.h: every string-valued config choice as an enum class with its one spelling
// table. Config files, --set and config.json keep the strings; the code sees only these enums.
#pragma once
#include "core/enum_names.h"

namespace moescope {

enum class AttnType { kMla, kMha };                      // attn.type
enum class FfnKind { kMoe, kDense };                     // model.ffn
enum class ScoreFunc { kSoftmax, kSigmoid };             // moe.score_func
enum class Jitter { kNone, kInput, kLogits };            // moe.jitter
enum class DropPolicy { kScore, kPosition };             // moe.drop_policy (ops/dispatch.h)
enum class DeviceKind { kCpu, kCuda, kAuto };            // train.device
enum class DType { kAuto, kBf16, kFp32 };                // train.dtype (compute dtype)
enum class BankScope { kLayer, kGlobal };                // compress.scope
enum class Activation { kIdentity, kSilu, kTanh };       // compress.activation (the basis nonlinearity f)
enum class Solver { kGradient, kAltmin };                // compress.solver
enum class InitMethod { kSvd, kPca, kRandom };           // compress.init
enum class WeightInit { kScaledNormal, kTorchDefault };  // model.weight_init
enum class QkNorm { kNone, kHead, kFull };               // attn.qk_norm
enum class RopeScaling { kNone, kYarn };                 // attn.rope_scaling

template <>
struct EnumNames<AttnType> {
  static constexpr const char* kNames[] = {"mla", "mha"};
};
template <>
struct EnumNames<FfnKind> {
  static constexpr const char* kNames[] = {"moe", "dense"};
};
template <>
struct EnumNames<ScoreFunc> {
  static constexpr const char* kNames[] = {"softmax", "sigmoid"};
};
template <>
struct EnumNames<Jitter> {
  static constexpr const char* kNames[] = {"none", "input", "logits"};
};
template <>
struct EnumNames<DropPolicy> {
  static constexpr const char* kNames[] = {"score", "position"};
};
template <>
struct EnumNames<DeviceKind> {
  static constexpr const char* kNames[] = {"cpu", "cuda", "auto"};
};
template <>
struct EnumNames<DType> {
  static constexpr const char* kNames[] = {"auto", "bf16", "fp32"};
};
template <>
struct EnumNames<BankScope> {
  static constexpr const char* kNames[] = {"layer", "global"};
};
template <>
struct EnumNames<Activation> {
  static constexpr const char* kNames[] = {"identity", "silu", "tanh"};
};
template <>
struct EnumNames<Solver> {
  static constexpr const char* kNames[] = {"gradient", "altmin"};
};
template <>
struct EnumNames<QkNorm> {
  static constexpr const char* kNames[] = {"none", "head", "full"};
};
template <>
struct EnumNames<RopeScaling> {
  static constexpr const char* kNames[] = {"none", "yarn"};
};
template <>
struct EnumNames<InitMethod> {
  static constexpr const char* kNames[] = {"svd", "pca", "random"};
};
template <>
struct EnumNames<WeightInit> {
  static constexpr const char* kNames[] = {"scaled_normal", "torch_default"};
};

}  // namespace moescope
