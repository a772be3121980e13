// fuzz_util.cpp: scratch directories and file helpers for the fuzz targets (fuzz_target.h).
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <vector>

#include <nlohmann/json.hpp>

#include "fuzz_target.h"
#include "io/remove_tree.h"

namespace moescope::fuzz {

bool unclear_message(const std::string& what) {
  if (what.empty() || what.find(' ') == std::string::npos) return true;
  if (what.rfind("[json.exception.", 0) == 0) return true;
  return what.find("_M_") != std::string::npos || what.rfind("basic_string", 0) == 0 || what.rfind("vector::", 0) == 0;
}

int& stage_errors() {
  static int n = 0;
  return n;
}

void stage(const std::function<void()>& fn) {
  try {
    fn();
  } catch (const Finding&) {
    throw;
  } catch (const std::bad_alloc&) {
    throw;
  } catch (const std::exception& e) {
    if (unclear_message(e.what()) || dynamic_cast<const nlohmann::json::exception*>(&e)) throw;
    ++stage_errors();
  }
}

std::shared_ptr<std::string> scratch_dir(const std::string& tag) {
  std::string tmpl = (std::filesystem::temp_directory_path() / ("moescope-fuzz-" + tag + "-XXXXXX")).string();
  std::vector<char> buf(tmpl.begin(), tmpl.end());
  buf.push_back('\0');
  if (!::mkdtemp(buf.data())) throw std::runtime_error("mkdtemp failed for " + tmpl);
  return std::shared_ptr<std::string>(new std::string(buf.data()), [](std::string* p) {
    remove_tree_nothrow(*p);
    delete p;
  });
}

void put_file(const std::string& path, const std::string& data) {
  std::ofstream f(path, std::ios::binary | std::ios::trunc);
  f.write(data.data(), std::streamsize(data.size()));
  if (!f) throw std::runtime_error("fuzz driver: cannot write " + path);
}

std::string get_file(const std::string& path) {
  std::ifstream f(path, std::ios::binary);
  if (!f) throw std::runtime_error("fuzz driver: cannot read " + path);
  std::ostringstream s;
  s << f.rdbuf();
  return s.str();
}

}  // namespace moescope::fuzz
