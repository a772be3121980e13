// spm_loader.cpp: see spm_loader.h.
#include "data/spm_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <climits>
#include <cstdlib>
#include <filesystem>
#include <mutex>
#include <stdexcept>
#include <string>
#include <vector>

namespace moescope {
namespace {

// RTLD_DEEPBIND keeps the plugin's bundled protobuf apart from the one LibTorch loads. The
// AddressSanitizer runtime refuses it (google/sanitizers#611: it would bypass its malloc); an
// ASan build is the torch-free one (scripts/sanitize_check.sh), with no protobuf to clash with.
#if defined(__SANITIZE_ADDRESS__)
constexpr int kDeepBind = 0;
#else
constexpr int kDeepBind = RTLD_DEEPBIND;
#endif

std::vector<std::string> candidates() {
  std::vector<std::string> c;
  if (const char* e = std::getenv("MOESCOPE_SPM_PLUGIN"); e && *e) c.emplace_back(e);
  char buf[PATH_MAX];
  ssize_t n = readlink("/proc/self/exe", buf, sizeof buf - 1);
  if (n > 0) {
    buf[n] = '\0';
    c.push_back((std::filesystem::path(buf).parent_path() / "libmoescope_spm.so").string());
  }
#ifdef MOESCOPE_SPM_PLUGIN_DEFAULT
  c.emplace_back(MOESCOPE_SPM_PLUGIN_DEFAULT);
#endif
  return c;
}

template <class Fn>
Fn sym(void* h, const char* name, const std::string& path) {
  void* p = dlsym(h, name);
  if (!p) throw std::runtime_error(path + ": missing symbol " + name + " (stale plugin? rebuild)");
  return reinterpret_cast<Fn>(p);
}

SpmApi load() {
  std::string tried;
  for (const auto& path : candidates()) {
    if (!std::filesystem::exists(path)) {
      tried += "\n  " + path + " (not found)";
      continue;
    }
    void* h = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL | kDeepBind);
    if (!h) {
      tried += "\n  " + path + " (" + dlerror() + ")";
      continue;
    }
    return SpmApi{sym<moescope_spm_train_fn>(h, "moescope_spm_train", path),
                  sym<moescope_spm_load_fn>(h, "moescope_spm_load", path),
                  sym<moescope_spm_free_fn>(h, "moescope_spm_free", path),
                  sym<moescope_spm_encode_fn>(h, "moescope_spm_encode", path),
                  sym<moescope_spm_decode_fn>(h, "moescope_spm_decode", path),
                  sym<moescope_spm_piece_size_fn>(h, "moescope_spm_piece_size", path),
                  sym<moescope_spm_piece_fn>(h, "moescope_spm_piece", path),
                  sym<moescope_spm_free_buf_fn>(h, "moescope_spm_free_buf", path)};
  }
  throw std::runtime_error("BPE tokenizer: cannot load the SentencePiece plugin libmoescope_spm.so; tried:" + tried +
                           "\n(set MOESCOPE_SPM_PLUGIN to its path, or rebuild with scripts/setup.sh)");
}

}  // namespace

const SpmApi& spm_api() {
  static std::once_flag once;
  static SpmApi api;
  static std::string error;
  std::call_once(once, [] {
    try {
      api = load();
    } catch (const std::exception& e) {
      error = e.what();
    }
  });
  if (!error.empty()) throw std::runtime_error(error);
  return api;
}

}  // namespace moescope
