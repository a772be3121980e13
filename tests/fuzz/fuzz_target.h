// fuzz_target.h: a parser entry point the fuzz driver (fuzz_main.cpp) runs.
//
// run(input) must end in success (return) or a clean error: an exception derived from
// std::exception whose message says what is wrong. The driver treats anything else as a
// finding: a crash or hang (the process dies; the input is saved first), std::bad_alloc or
// memory growth past the limit (unbounded memory), a raw library exception (nlohmann's
// "[json.exception...]", a std::stoi "stoi") and, for targets that say so, other checks
// run() makes itself (it throws Finding).
#pragma once
#include <functional>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace moescope::fuzz {

// Thrown by run() for a wrong result that is not an exception of the code under test (an HTTP
// 500, an error body that is not JSON).
struct Finding : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct FuzzTarget {
  std::string name;
  std::string help;
  size_t max_len = 64 << 10;
  bool save_before_run = false;    // write each input to disk first (crashes in other threads)
  std::vector<std::string> seeds;  // valid inputs: each must run without an error
  std::function<void(const std::string& input)> run;
  std::shared_ptr<void> state;  // scratch directories, servers: freed with the target
};

// name -> a function that sets the target up (only the one asked for is built).
struct TargetFactory {
  std::string name;
  std::function<FuzzTarget()> make;
};
std::vector<TargetFactory> io_targets();     // safetensors, token_cache, tokenizer_json, jsonl
std::vector<TargetFactory> http_targets();   // http
std::vector<TargetFactory> train_targets();  // config, trainer_state

// The message of an exception from a library's internals rather than from code that says
// what is wrong: nlohmann's "[json.exception.type_error.302] ...", std::stoi's "stoi",
// std::vector's "vector::_M_range_check: ...".
bool unclear_message(const std::string& what);

// Runs one stage of a target that has several: a clean error ends only that stage (counted
// in stage_errors()); findings, std::bad_alloc and unclear errors propagate.
void stage(const std::function<void()>& fn);
int& stage_errors();

// A scratch directory removed with the last reference.
std::shared_ptr<std::string> scratch_dir(const std::string& tag);
// Writes `data` to `path` (plain, not atomic: the fuzz loop rewrites it every iteration).
void put_file(const std::string& path, const std::string& data);
std::string get_file(const std::string& path);

}  // namespace moescope::fuzz
