// host_memory.h: how much memory this machine can give a run (torch-free), and byte sizes as
// a user writes them (--max-memory 8G).
//   available: MemAvailable of /proc/meminfo, lowered to the cgroup v2 limit's headroom
//   (memory.max - memory.current) when the process runs in a limited cgroup.
#pragma once
#include <cstdint>
#include <string>

namespace moescope {

// Bytes available to this process now; 0 when unknown (no /proc/meminfo).
uint64_t available_memory_bytes();
// MemAvailable (kB in the text) of a /proc/meminfo image, in bytes; 0 when absent.
uint64_t parse_meminfo_available(const std::string& meminfo);
// A "Key:  N kB" line of a /proc text (/proc/meminfo, /proc/self/status), in bytes; 0 when absent.
uint64_t parse_proc_kb(const std::string& text, const std::string& key);
// A memory field of this process's /proc/self/status ("VmHWM" peak RSS, "RssAnon", "RssFile"),
// in bytes; 0 when unknown.
uint64_t process_status_bytes(const std::string& key);
// "123", "512M", "8G", "1.5T", "64KiB" (K, M, G, T: powers of 1024; an optional "B"/"iB").
// Throws std::invalid_argument naming `what` for anything else or a size <= 0.
uint64_t parse_byte_size(const std::string& text, const std::string& what);
// "1.5 GiB", "512.0 MiB", "800 B".
std::string format_bytes(double bytes);

}  // namespace moescope
