#include <doctest/doctest.h>

#include "dtype.hpp"
#include "errors.hpp"

using kjit::DType;

TEST_CASE("dtype parsing accepts the spellings users type") {
  CHECK(kjit::parse_dtype("bf16") == DType::kBF16);
  CHECK(kjit::parse_dtype("bfloat16") == DType::kBF16);
  CHECK(kjit::parse_dtype("torch.bfloat16") == DType::kBF16);
  CHECK(kjit::parse_dtype("half") == DType::kF16);
  CHECK(kjit::parse_dtype("Float16") == DType::kF16);
  CHECK(kjit::parse_dtype("float8_e4m3fn") == DType::kE4M3);
  CHECK(kjit::parse_dtype("torch.float8_e4m3fn") == DType::kE4M3);
  CHECK(kjit::parse_dtype("fp8_e4m3") == DType::kE4M3);
  CHECK(kjit::parse_dtype("float8_e5m2") == DType::kE5M2);
  CHECK(kjit::parse_dtype("float32") == DType::kF32);
  CHECK(kjit::parse_dtype("int32") == DType::kI32);
  CHECK(kjit::parse_dtype("float8_e4m3fnuz") == DType::kE4M3FNUZ);
  CHECK(kjit::parse_dtype("fp8_e5m2fnuz") == DType::kE5M2FNUZ);
}

TEST_CASE("every short name round-trips") {
  for (DType dtype : {DType::kF16, DType::kBF16, DType::kF32, DType::kE4M3, DType::kE5M2,
                      DType::kI32, DType::kE4M3FNUZ, DType::kE5M2FNUZ}) {
    CHECK(kjit::parse_dtype(kjit::short_name(dtype)) == dtype);
  }
}

TEST_CASE("unknown dtype names are rejected with the accepted list") {
  CHECK_THROWS_AS(kjit::parse_dtype("float64"), kjit::InvalidArgument);
  try {
    kjit::parse_dtype("fp4");
    FAIL("expected InvalidArgument");
  } catch (const kjit::InvalidArgument& error) {
    const std::string message = error.what();
    CHECK(message.find("'fp4'") != std::string::npos);
    CHECK(message.find("bf16") != std::string::npos);
    CHECK(message.find("e4m3") != std::string::npos);
  }
}

TEST_CASE("sizes and CUDA names") {
  CHECK(kjit::size_in_bytes(DType::kE4M3) == 1);
  CHECK(kjit::size_in_bytes(DType::kBF16) == 2);
  CHECK(kjit::cuda_type_name(DType::kE4M3) == "__nv_fp8_e4m3");
  CHECK(kjit::cuda_type_name(DType::kBF16) == "nv_bfloat16");
  CHECK(kjit::cuda_type_name(DType::kE4M3FNUZ).empty());
}
