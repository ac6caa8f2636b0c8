// The README's C++ example is this file's readme_example.inc, compiled here and run as far as
// the machine allows, so the documentation cannot drift from the API.
#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "batch_decode_plan.hpp"
#include "errors.hpp"
#include "runtime.hpp"

namespace {

std::string read(const std::string& path) {
  std::ifstream file(path);
  std::stringstream text;
  text << file.rdbuf();
  return text.str();
}

void readme_example(const std::vector<int>& kv_indptr, const std::vector<int>& kv_last_page_len,
                    void* workspace, std::size_t workspace_bytes, CUstream stream,
                    const kjit::BatchDecodeParams& params) {
#include "readme_example.inc"
}

}  // namespace

TEST_CASE("README's C++ example is the compiled one") {
  const std::string readme = read(std::string(KJIT_SOURCE_DIR) + "/README.md");
  const std::string example =
      read(std::string(KJIT_SOURCE_DIR) + "/tests/runtime/readme_example.inc");
  REQUIRE(!example.empty());
  CHECK(readme.find("```cpp\n" + example + "```") != std::string::npos);
}

TEST_CASE("README's C++ example runs until it needs a GPU") {
  if (kjit::cuda_available()) return;  // the GPU tests launch the same calls
  CHECK_THROWS_AS(readme_example({0, 1}, {1}, nullptr, 0, nullptr, {}), kjit::CudaError);
}
