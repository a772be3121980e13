// hf_fixture_gen.cpp: `hf_fixture_gen OUT_DIR [ARCH...]` writes the tiny Hugging Face MoE
// fixtures (hf_fixture_writer.h) into OUT_DIR/<arch>/ (tests/fixtures/hf in the repository).
#include <iostream>

#include "hf_fixture_writer.h"

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: hf_fixture_gen OUT_DIR [ARCH...]\n";
    return 2;
  }
  std::vector<std::string> archs(argv + 2, argv + argc);
  if (archs.empty()) archs = moescope::hffix::architectures();
  try {
    for (const auto& a : archs) {
      moescope::hffix::write_fixture(a, std::string(argv[1]) + "/" + a);
      std::cout << "wrote " << argv[1] << "/" << a << "\n";
    }
  } catch (const std::exception& ex) {
    std::cerr << "hf_fixture_gen: " << ex.what() << "\n";
    return 1;
  }
  return 0;
}
