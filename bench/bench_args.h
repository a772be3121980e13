// bench_args.h: the one command-line helper the benchmark programs share.
#pragma once
#include <sstream>
#include <string>
#include <vector>

namespace moescope::bench {

// "a,b,,c" -> {"a", "b", "c"}: comma lists of --threads, --dtypes, --configs, ...
inline std::vector<std::string> split_list(const std::string& s) {
  std::vector<std::string> out;
  std::stringstream ss(s);
  std::string t;
  while (std::getline(ss, t, ','))
    if (!t.empty()) out.push_back(t);
  return out;
}

}  // namespace moescope::bench
