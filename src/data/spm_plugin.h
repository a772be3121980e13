// spm_plugin.h: the C ABI of libmoescope_spm.so, a plugin wrapping SentencePiece.
//
// Why a dlopen'ed plugin: Debian's libsentencepiece bundles its own protobuf-lite (3.14) and
// exports its symbols, while LibTorch loads the system libprotobuf (3.21). Linking both into
// one binary crashes at start-up (or aborts with a protobuf version error). The plugin is
// loaded with RTLD_LOCAL | RTLD_DEEPBIND (spm_loader.h), so SentencePiece binds to its own
// protobuf and nothing else sees it. Only this plugin links SentencePiece.
//
// All functions return 0 on success, or non-zero with a message copied into err[errn].
#pragma once
#include <cstddef>
#include <cstdint>

extern "C" {
// Trains a model from text (fed line by line). kv: nkv key/value pairs of SentencePiece
// trainer flags (including model_prefix); the model is written to <model_prefix>.model.
typedef int (*moescope_spm_train_fn)(const char* text, size_t n, const char* const* kv, int nkv, char* err,
                                     size_t errn);
// Loads a serialized model; *handle receives the processor.
typedef int (*moescope_spm_load_fn)(const char* bytes, size_t n, void** handle, char* err, size_t errn);
typedef void (*moescope_spm_free_fn)(void* handle);
// Encodes text; *ids is malloc'ed (free with moescope_spm_free_buf).
typedef int (*moescope_spm_encode_fn)(void* handle, const char* text, size_t n, int32_t** ids, size_t* nids, char* err,
                                      size_t errn);
// Decodes ids; *out is malloc'ed (free with moescope_spm_free_buf).
typedef int (*moescope_spm_decode_fn)(void* handle, const int32_t* ids, size_t n, char** out, size_t* outn, char* err,
                                      size_t errn);
typedef int (*moescope_spm_piece_size_fn)(void* handle);
// Piece text (valid while the handle lives), score, flags bit0 unknown, bit1 control, bit2 byte.
typedef void (*moescope_spm_piece_fn)(void* handle, int id, const char** piece, size_t* len, float* score, int* flags);
typedef void (*moescope_spm_free_buf_fn)(void* buf);
}
