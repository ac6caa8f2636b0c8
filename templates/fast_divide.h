// Division by a divisor fixed for a whole launch but known only at run time (the page size), as
// a multiply-high, an add and a shift instead of an integer division (about 20 instructions on
// the GPU, in the decode kernel's inner loop). The round-up method of Granlund and Montgomery,
// "Division by invariant integers using multiplication" (PLDI 1994), for dividends below 2^31,
// so that the add cannot overflow:
//   s = ceil(log2 d),  m = floor(2^32 (2^s - d) / d) + 1,  n / d = (mulhi(n, m) + n) >> s.
// Plain C++ shared by the host (which computes the constants) and the device code (NVRTC).
#pragma once

#if defined(__CUDACC__)
#define KJIT_HOST_DEVICE __host__ __device__
#else
#define KJIT_HOST_DEVICE
#endif

namespace kjit {

struct FastDivisor {
  unsigned divisor;
  unsigned multiplier;
  unsigned shift;
};

// 1 <= divisor < 2^31 (so that the shift stays below 32).
inline FastDivisor make_fast_divisor(unsigned divisor) {
  unsigned shift = 0;
  while ((1ull << shift) < divisor) ++shift;
  const unsigned long long multiplier = ((1ull << 32) * ((1ull << shift) - divisor)) / divisor + 1;
  return {divisor, static_cast<unsigned>(multiplier), shift};
}

// n / d for 0 <= n < 2^31.
KJIT_HOST_DEVICE inline unsigned fast_divide(unsigned n, const FastDivisor& d) {
  const unsigned high =
      static_cast<unsigned>((static_cast<unsigned long long>(n) * d.multiplier) >> 32);
  return (high + n) >> d.shift;
}

}  // namespace kjit
