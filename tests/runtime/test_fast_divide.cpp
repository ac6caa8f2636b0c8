// The page-size divisor the decode kernel uses instead of an integer division, checked against
// `/` on the host: every small divisor against every dividend up to a few pages past the
// largest KV length we test, then random and boundary values over the whole 31-bit range.
#include <doctest/doctest.h>

#include <random>

#include "fast_divide.h"

TEST_CASE("fast_divide agrees with integer division") {
  for (unsigned divisor = 1; divisor <= 300; ++divisor) {
    const kjit::FastDivisor fast = kjit::make_fast_divisor(divisor);
    for (unsigned n = 0; n < 70000; ++n) {
      if (kjit::fast_divide(n, fast) != n / divisor) {
        CAPTURE(divisor);
        CAPTURE(n);
        FAIL("fast_divide differs from n / divisor");
      }
    }
  }
  std::mt19937 rng(2211);
  const unsigned top = (1u << 31) - 1;
  for (int round = 0; round < 2000; ++round) {
    const unsigned divisor = round < 1000 ? 1 + rng() % 4096 : 1 + rng() % top;
    const kjit::FastDivisor fast = kjit::make_fast_divisor(divisor);
    for (unsigned n : {0u, 1u, divisor - 1, divisor, divisor + 1, 2 * divisor - 1, top, top - 1,
                       top / divisor * divisor, top / divisor * divisor - 1,
                       static_cast<unsigned>(rng() % top), static_cast<unsigned>(rng() % top)}) {
      if (n > top) continue;
      CAPTURE(divisor);
      CAPTURE(n);
      CHECK(kjit::fast_divide(n, fast) == n / divisor);
    }
  }
}
