// crc32c.h: CRC-32C (Castagnoli) checksums, as used by safetensors/token-file integrity checks
// and by TensorFlow's TFRecord framing.
//
// Reflected polynomial 0x82F63B78, init/final xor 0xFFFFFFFF (the iSCSI / SSE4.2 variant).
// Incremental: crc32c(b, nb, crc32c(a, na)) == crc32c(a ++ b, na + nb).
#pragma once
#include <cstddef>
#include <cstdint>

namespace moescope {

// Checksum of n bytes, continuing from `crc` (0 to start a new checksum).
uint32_t crc32c(const void* data, size_t n, uint32_t crc = 0);

// TFRecord's masked form: ((crc >> 15) | (crc << 17)) + 0xa282ead8, of crc32c(data, n).
uint32_t masked_crc32c(const void* data, size_t n);

}  // namespace moescope
