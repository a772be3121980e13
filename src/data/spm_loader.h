// spm_loader.h: finds and dlopens libmoescope_spm.so (see spm_plugin.h for why).
// Search order: $MOESCOPE_SPM_PLUGIN, the directory of the running executable, then the
// build tree's copy (compiled-in path). Loaded once per process; errors name every path tried.
#pragma once
#include "data/spm_plugin.h"

namespace moescope {

struct SpmApi {
  moescope_spm_train_fn train;
  moescope_spm_load_fn load;
  moescope_spm_free_fn free_handle;
  moescope_spm_encode_fn encode;
  moescope_spm_decode_fn decode;
  moescope_spm_piece_size_fn piece_size;
  moescope_spm_piece_fn piece;
  moescope_spm_free_buf_fn free_buf;
};

// Throws std::runtime_error when the plugin cannot be found or lacks a symbol.
const SpmApi& spm_api();

}  // namespace moescope
