// Host-side encodings of the storage types, written from the bit formats (independent of the
// CUDA headers the kernels use), for generating test data and decoding it exactly.
#pragma once

#include <cmath>
#include <cstdint>
#include <cstring>
#include <random>

#include "dtype.hpp"

namespace kjit::testing {

inline double decode_bf16(std::uint16_t bits) {
  const std::uint32_t word = static_cast<std::uint32_t>(bits) << 16;
  float value;
  std::memcpy(&value, &word, sizeof value);
  return value;
}

inline double decode_f16(std::uint16_t bits) {
  const int sign = bits >> 15, exponent = (bits >> 10) & 31, mantissa = bits & 1023;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -24);
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(1024 + mantissa, exponent - 25);
  }
  return sign ? -magnitude : magnitude;
}

// E4M3 ("fn"): bias 7, no infinities, S.1111.111 is NaN.
inline double decode_e4m3(std::uint8_t bits) {
  const int sign = bits >> 7, exponent = (bits >> 3) & 15, mantissa = bits & 7;
  double magnitude;
  if (exponent == 15 && mantissa == 7) {
    magnitude = NAN;
  } else if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -9);
  } else {
    magnitude = std::ldexp(8 + mantissa, exponent - 10);
  }
  return sign ? -magnitude : magnitude;
}

// E5M2: bias 15, IEEE-like.
inline double decode_e5m2(std::uint8_t bits) {
  const int sign = bits >> 7, exponent = (bits >> 2) & 31, mantissa = bits & 3;
  double magnitude;
  if (exponent == 0) {
    magnitude = std::ldexp(mantissa, -16);
  } else if (exponent == 31) {
    magnitude = mantissa ? NAN : INFINITY;
  } else {
    magnitude = std::ldexp(4 + mantissa, exponent - 17);
  }
  return sign ? -magnitude : magnitude;
}

// Decodes element i of a raw buffer of `dtype`.
inline double decode(DType dtype, const std::uint8_t* data, std::size_t i) {
  switch (dtype) {
    case DType::kBF16: {
      std::uint16_t bits;
      std::memcpy(&bits, data + 2 * i, 2);
      return decode_bf16(bits);
    }
    case DType::kF16: {
      std::uint16_t bits;
      std::memcpy(&bits, data + 2 * i, 2);
      return decode_f16(bits);
    }
    case DType::kE4M3:
      return decode_e4m3(data[i]);
    case DType::kE5M2:
      return decode_e5m2(data[i]);
    default:
      return NAN;
  }
}

// Writes a random finite value of moderate magnitude (about 0.1 to 4, random sign, random
// mantissa; FP8 E4M3 includes subnormals) as element i.
inline void fill_random(DType dtype, std::uint8_t* data, std::size_t i, std::mt19937_64& rng) {
  auto bits = [&](int count) { return static_cast<unsigned>(rng() & ((1u << count) - 1)); };
  const unsigned sign = bits(1);
  switch (dtype) {
    case DType::kBF16: {
      const std::uint16_t value =
          static_cast<std::uint16_t>((sign << 15) | ((124 + rng() % 4) << 7) | bits(7));
      std::memcpy(data + 2 * i, &value, 2);
      return;
    }
    case DType::kF16: {
      const std::uint16_t value =
          static_cast<std::uint16_t>((sign << 15) | ((12 + rng() % 4) << 10) | bits(10));
      std::memcpy(data + 2 * i, &value, 2);
      return;
    }
    case DType::kE4M3:
      data[i] = static_cast<std::uint8_t>((sign << 7) | ((rng() % 9) << 3) | bits(3));
      return;
    case DType::kE5M2:
      data[i] = static_cast<std::uint8_t>((sign << 7) | ((12 + rng() % 5) << 2) | bits(2));
      return;
    default:
      return;
  }
}

}  // namespace kjit::testing
