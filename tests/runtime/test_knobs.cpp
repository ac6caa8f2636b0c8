#include <doctest/doctest.h>

#include <fstream>
#include <sstream>
#include <string>

#include "errors.hpp"
#include "knobs.hpp"

TEST_CASE("the README documents every environment variable kjit reads") {
  std::ifstream readme(std::string(KJIT_SOURCE_DIR) + "/README.md");
  REQUIRE(readme);
  std::stringstream text;
  text << readme.rdbuf();
  for (const auto& knob : kjit::knobs::kKnobs) {
    CAPTURE(knob.name);
    CHECK(text.str().find(std::string("`") + knob.name + "`") != std::string::npos);
  }
}

TEST_CASE("sizes parse with binary units") {
  CHECK(kjit::knobs::parse_size("1024") == 1024);
  CHECK(kjit::knobs::parse_size("500M") == 500ull << 20);
  CHECK(kjit::knobs::parse_size("2G") == 2ull << 30);
  CHECK_THROWS_AS(kjit::knobs::parse_size("2X"), kjit::InvalidArgument);
  CHECK_THROWS_AS(kjit::knobs::parse_size(""), kjit::InvalidArgument);
  CHECK_THROWS_AS(kjit::knobs::parse_size("99999999999999999999G"), kjit::InvalidArgument);
}
