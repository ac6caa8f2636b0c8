#!/usr/bin/env python3
"""Times kjit's decode wrapper against torch SDPA on the same shapes, in one process.

  python3 bench/decode_vs_torch.py [--json FILE] [--layout NHD|HND] [--page-size N]

For each shape (S1-S4 and S6 of DESIGN.md §6):
  - kjit with BF16 and E4M3 paged KV, sinks on (NHD pages of 16 tokens, shuffled, unless told
    otherwise);
  - SDPA (enable_gqa, no sinks) on the paged BF16 cache, its pages gathered first: what a
    PyTorch host does with a paged cache; the gather is timed with the attention;
  - SDPA on a contiguous (batch, h_kv, kv_len, d) BF16 cache, and kjit (sinks off) on the very
    same memory through a strided page view (contiguous_as_pages), so that the kernels are
    compared on identical bytes; the run stops if the two outputs disagree.
L2 is flushed before every timed launch (L2Flush); medians of CUDA-event timings.
Also reports the host-side cost of one wrapper.run call.
"""
import argparse
import json
import statistics

import torch

import kjit
from host_cost import per_call_us, planned_call  # bench/ is on sys.path when run as a script

# (name, batch, kv_len, head_dim, window_left); gpt-oss heads: hq 64, h_kv 8. S5's mixed lengths
# are left out: one SDPA call can take them only padded to the longest request (16384 tokens for
# all 16, 4.4 times the bytes), which would compare padding, not kernels.
SHAPES = [("S1", 64, 4096, 64, -1), ("S2", 64, 4096, 128, -1), ("S3", 1, 32768, 64, -1),
          ("S4", 256, 2048, 64, -1), ("S6", 64, 4096, 64, 127)]
HQ, HKV = 64, 8
# kjit's view of SDPA's contiguous cache: HND pages of this many tokens (see contiguous_as_pages).
CONTIGUOUS_PAGE = 64


class L2Flush:
    """Empties the 50 MB L2 as kjit-bench does (--flush): read (default) reduces a 256 MiB
    buffer, leaving clean lines; write memsets it, leaving L2 dirty, so that the timed kernel
    pays for the write-back. Either is one long kernel, so no host time is timed."""

    def __init__(self, mode):
        self.mode = mode
        self.source = torch.zeros(256 << 20, dtype=torch.uint8, device="cuda")

    def __call__(self):
        if self.mode == "write":
            self.source.zero_()
        else:
            self.source.view(torch.int64).sum()


def timed(fn, flush, iterations=30):
    fn()
    torch.cuda.synchronize()
    times = []
    for _ in range(iterations):
        flush()
        start, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start.record()
        fn()
        end.record()
        end.synchronize()
        times.append(start.elapsed_time(end) * 1e3)
    return statistics.median(times)


def copy_bandwidth(flush):
    src = torch.empty(1 << 30, dtype=torch.uint8, device="cuda")
    dst = torch.empty_like(src)
    us = timed(lambda: dst.copy_(src), flush, 10)
    return 2 * src.numel() / (us * 1e-6)


def contiguous_as_pages(cache, page_size):
    """kjit's paged view of a contiguous (batch, h_kv, kv_len, d) cache, the layout SDPA reads:
    page p covers tokens [j·page_size, (j + 1)·page_size) of every head of request b when
    p = b·h_kv·(kv_len / page_size) + j. As an HND cache (pages, h_kv, page_size, d) its strides
    are (page_size·d, kv_len·d, d, 1), so pages overlap in memory and kjit reads exactly the
    bytes SDPA reads, in the same order. Returns (view, indptr, indices)."""
    batch, heads, kv_len, head_dim = cache.shape
    pages_per = kv_len // page_size
    stride_request = heads * pages_per
    num_pages = (batch - 1) * stride_request + pages_per  # the last addressable page + 1
    view = cache.as_strided((num_pages, heads, page_size, head_dim),
                            (page_size * head_dim, kv_len * head_dim, head_dim, 1))
    indices = (torch.arange(batch, device=cache.device)[:, None] * stride_request +
               torch.arange(pages_per, device=cache.device)[None, :]).flatten().to(torch.int32)
    indptr = torch.arange(batch + 1, dtype=torch.int32, device=cache.device) * pages_per
    return view, indptr, indices


def gathered(cache, pages, batch, layout, visible):
    """What a PyTorch host does to attend over a paged cache with SDPA: gather each request's
    pages into (batch, h_kv, tokens, d), keeping the last `visible` tokens."""
    g = cache.index_select(0, pages)
    if layout == "NHD":  # (batch·n, page, h, d) -> (batch, n·page, h, d), a view
        g = g.view(batch, -1, *g.shape[2:]).transpose(1, 2)
    else:  # (batch·n, h, page, d) -> (batch, h, n·page, d), a copy
        g = g.view(batch, -1, *g.shape[1:]).transpose(1, 2).flatten(2, 3)
    return g[:, :, -visible:]


def bench_shape(name, batch, kv_len, head_dim, window_left, flush, copy_bw, layout, page):
    """Rows for one shape: kjit on the benchmark's shuffled pages (BF16, E4M3; sinks on), kjit on
    SDPA's own contiguous BF16 cache (sinks off, the same math as SDPA), SDPA on that contiguous
    cache, and SDPA on the paged BF16 cache gathered first (the gather timed with it)."""
    pages_per = kv_len // page  # every kv_len here is a multiple of the page sizes used
    visible = kv_len if window_left < 0 else min(kv_len, window_left + 1)
    indptr = torch.arange(batch + 1, dtype=torch.int32, device="cuda") * pages_per
    indices = torch.randperm(batch * pages_per, device="cuda").to(torch.int32)
    last = torch.full((batch,), page, dtype=torch.int32, device="cuda")
    q = torch.randn(batch, HQ, head_dim, device="cuda").to(torch.bfloat16)
    qs = q[:, :, None, :]
    sinks = torch.randn(HQ, device="cuda")
    workspace = torch.empty(1 << 26, dtype=torch.uint8, device="cuda")
    # Bytes counted: the visible K and V.
    kv_bytes = {d: 2 * batch * visible * HKV * head_dim * d.itemsize
                for d in (torch.bfloat16, torch.float8_e4m3fn)}

    def row(impl, kv_dtype, cache, use_sinks, us):
        dtype_name = "bf16" if kv_dtype == torch.bfloat16 else "e4m3"
        return dict(shape=name, impl=impl, dtype_kv=dtype_name, cache=cache, sinks=use_sinks,
                    us=us, gbps=kv_bytes[kv_dtype] / us / 1e3,
                    pct_copy=100 * kv_bytes[kv_dtype] / (us * 1e-6) / copy_bw)

    def kjit_us(kv_layout, kv, kv_dtype, plan_indptr, plan_indices, plan_last, page_size,
                use_sinks):
        wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace, kv_layout)
        wrapper.plan(plan_indptr, plan_indices, plan_last, HQ, HKV, head_dim, page_size,
                     q_data_type=torch.bfloat16, kv_data_type=kv_dtype, use_sinks=use_sinks,
                     window_left=window_left)
        out = torch.empty_like(q)
        run_sinks = sinks if use_sinks else None
        us = timed(lambda: wrapper.run(q, kv, sinks=run_sinks, out=out), flush)
        return us, out

    paged_us = {}
    shape = ((batch * pages_per, page, HKV, head_dim) if layout == "NHD" else
             (batch * pages_per, HKV, page, head_dim))
    for kv_dtype in (torch.float8_e4m3fn, torch.bfloat16):  # BF16 last: its pages are gathered
        k = torch.randn(shape, device="cuda").to(kv_dtype)
        v = torch.randn(shape, device="cuda").to(kv_dtype)
        paged_us[kv_dtype], _ = kjit_us(layout, (k, v), kv_dtype, indptr, indices, last, page, True)
    bf16_row = row("kjit", torch.bfloat16, "paged", True, paged_us[torch.bfloat16])
    e4m3_row = row("kjit", torch.float8_e4m3fn, "paged", True, paged_us[torch.float8_e4m3fn])
    e4m3_row["e4m3_speedup"] = bf16_row["us"] / e4m3_row["us"]
    rows = [bf16_row, e4m3_row]
    # SDPA on the paged BF16 cache (k, v from the loop's last pass): gather, then attend.
    first_page = (kv_len - visible) // page
    window_pages = indices.view(batch, pages_per)[:, first_page:].flatten().long()
    sdpa_paged = timed(lambda: torch.nn.functional.scaled_dot_product_attention(
        qs, gathered(k, window_pages, batch, layout, visible),
        gathered(v, window_pages, batch, layout, visible), enable_gqa=True), flush)
    rows.append(row("sdpa", torch.bfloat16, "paged, gathered", False, sdpa_paged))
    del k, v
    # SDPA and kjit on one contiguous BF16 cache, the same bytes read in the same order.
    kc = torch.randn(batch, HKV, kv_len, head_dim, device="cuda").to(torch.bfloat16)
    vc = torch.randn_like(kc)
    sdpa_out = torch.nn.functional.scaled_dot_product_attention(
        qs, kc[:, :, -visible:], vc[:, :, -visible:], enable_gqa=True)
    sdpa = timed(lambda: torch.nn.functional.scaled_dot_product_attention(
        qs, kc[:, :, -visible:], vc[:, :, -visible:], enable_gqa=True), flush)
    k_view, c_indptr, c_indices = contiguous_as_pages(kc, CONTIGUOUS_PAGE)
    v_view, _, _ = contiguous_as_pages(vc, CONTIGUOUS_PAGE)
    c_last = torch.full((batch,), CONTIGUOUS_PAGE, dtype=torch.int32, device="cuda")
    us, out = kjit_us("HND", (k_view, v_view), torch.bfloat16, c_indptr, c_indices, c_last,
                      CONTIGUOUS_PAGE, False)
    # The view is only worth timing if it reads what SDPA reads: the two outputs must agree to
    # BF16 rounding (2^-9 per element; 1e-2 relative L2 as in tests/python).
    error = float((out.double() - sdpa_out[:, :, 0].double()).norm() / sdpa_out.double().norm())
    if not error <= 1e-2:
        raise RuntimeError(
            f"{name}: kjit on the contiguous cache differs from SDPA: rel L2 {error:.2e}")
    rows.append(row("kjit", torch.bfloat16, "contiguous", False, us))
    rows.append(row("sdpa", torch.bfloat16, "contiguous", False, sdpa))
    for r in rows:
        r["vs_sdpa"] = sdpa / r["us"]
        r["vs_sdpa_paged"] = sdpa_paged / r["us"]
    return rows


def host_cost():
    """Host time of one wrapper.run call and, for scale, of one small PyTorch op (out.copy_(q),
    which also validates its tensors and launches once); see host_cost.per_call_us."""
    wrapper, q, k, sinks, out = planned_call()
    kv = (k, k)
    return (per_call_us(lambda: wrapper.run(q, kv, sinks=sinks, out=out)),
            per_call_us(lambda: out.copy_(q)))


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--flush", choices=("read", "write"), default="read",
                        help="how L2 is emptied before each timed launch (see L2Flush)")
    parser.add_argument("--layout", choices=("NHD", "HND"), default="NHD",
                        help="kjit's page layout")
    parser.add_argument("--page-size", type=int, choices=(1, 16, 32, 64), default=16,
                        help="tokens per kjit page")
    args = parser.parse_args()
    flush = L2Flush(args.flush)
    copy_bw = copy_bandwidth(flush)
    device = torch.cuda.get_device_name()
    rows = []
    for shape in SHAPES:
        rows += bench_shape(*shape, flush, copy_bw, args.layout, args.page_size)
    run_us, torch_op_us = host_cost()
    print(f"device {device}; copy bandwidth {copy_bw / 1e12:.2f} TB/s (read + write); "
          f"L2 flush: {args.flush}; kjit: {args.layout} pages of {args.page_size} tokens, shuffled")
    print(f"{'shape':<6}{'impl':<6}{'kv':<6}{'cache':<17}{'sinks':<7}{'us':>9}{'GB/s':>7}"
          f"{'%copy':>7}{'x SDPA':>8}{'x SDPA paged':>13}{'e4m3/bf16':>10}")
    for row in rows:
        speedup = f"{row['e4m3_speedup']:.2f}" if "e4m3_speedup" in row else ""
        print(f"{row['shape']:<6}{row['impl']:<6}{row['dtype_kv']:<6}{row['cache']:<17}"
              f"{'on' if row['sinks'] else 'off':<7}{row['us']:>9.1f}{row['gbps']:>7.0f}"
              f"{row['pct_copy']:>7.1f}{row['vs_sdpa']:>8.2f}{row['vs_sdpa_paged']:>13.2f}"
              f"{speedup:>10}")
    print("x SDPA: SDPA on the contiguous cache over this row's time; x SDPA paged: SDPA on the "
          "paged cache, gathered first (gather timed too)")
    print(f"host cost of one wrapper.run call: {run_us:.1f} us (target <= 10); "
          f"one torch op (out.copy_(q)) for scale: {torch_op_us:.1f} us")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(dict(device=device, copy_bandwidth=copy_bw, l2_flush=args.flush,
                           layout=args.layout, page_size=args.page_size,
                           host_run_us=run_us,
                           host_torch_op_us=torch_op_us, rows=rows), f, indent=2)


if __name__ == "__main__":
    main()
