#!/usr/bin/env python3
"""Times kjit's decode wrapper against torch SDPA on the same shapes, in one process.

  python3 bench/decode_vs_torch.py [--json FILE] [--layout NHD|HND] [--page-size N]

For each shape: kjit with BF16 and E4M3 paged KV (sinks on; NHD pages of 16 tokens, shuffled,
unless told otherwise), and SDPA (enable_gqa) on contiguous BF16 KV without sinks. L2 is flushed
before every timed launch (L2Flush); medians of CUDA-event timings.
Also reports the host-side cost of one wrapper.run call.
"""
import argparse
import json
import statistics

import torch

import kjit
from host_cost import per_call_us, planned_call  # bench/ is on sys.path when run as a script

# (name, batch, kv_len, head_dim); gpt-oss heads: hq 64, h_kv 8.
SHAPES = [("S1", 64, 4096, 64), ("S2", 64, 4096, 128), ("S3", 1, 32768, 64),
          ("S4", 256, 2048, 64)]
HQ, HKV = 64, 8


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


def bench_shape(name, batch, kv_len, head_dim, flush, copy_bw, layout, page):
    pages_per = kv_len // page  # every kv_len here is a multiple of the page sizes used
    indptr = torch.arange(batch + 1, dtype=torch.int32, device="cuda") * pages_per
    indices = torch.randperm(batch * pages_per, device="cuda").to(torch.int32)
    last = torch.full((batch,), page, dtype=torch.int32, device="cuda")
    q = torch.randn(batch, HQ, head_dim, device="cuda").to(torch.bfloat16)
    sinks = torch.randn(HQ, device="cuda")
    workspace = torch.empty(1 << 26, dtype=torch.uint8, device="cuda")
    rows = []
    results = {}
    for kv_name, kv_dtype in (("bf16", torch.bfloat16), ("e4m3", torch.float8_e4m3fn)):
        shape = ((batch * pages_per, page, HKV, head_dim) if layout == "NHD" else
                 (batch * pages_per, HKV, page, head_dim))
        k = torch.randn(shape, device="cuda").to(kv_dtype)
        v = torch.randn(shape, device="cuda").to(kv_dtype)
        wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace, layout)
        wrapper.plan(indptr, indices, last, HQ, HKV, head_dim, page, q_data_type=torch.bfloat16,
                     kv_data_type=kv_dtype, use_sinks=True)
        out = torch.empty_like(q)
        us = timed(lambda: wrapper.run(q, (k, v), sinks=sinks, out=out), flush)
        kv_bytes = 2 * k.numel() * k.element_size()
        results[kv_name] = us
        rows.append(dict(shape=name, impl="kjit", dtype_kv=kv_name, us=us,
                         gbps=kv_bytes / us / 1e3, pct_copy=100 * kv_bytes / (us * 1e-6) / copy_bw))
        del k, v
    kc = torch.randn(batch, HKV, kv_len, head_dim, device="cuda").to(torch.bfloat16)
    vc = torch.randn_like(kc)
    qs = q[:, :, None, :]
    sdpa = timed(lambda: torch.nn.functional.scaled_dot_product_attention(
        qs, kc, vc, enable_gqa=True), flush)
    kv_bytes = 2 * kc.numel() * 2
    rows.append(dict(shape=name, impl="sdpa", dtype_kv="bf16", us=sdpa, gbps=kv_bytes / sdpa / 1e3,
                     pct_copy=100 * kv_bytes / (sdpa * 1e-6) / copy_bw))
    for row in rows:
        row["vs_sdpa"] = sdpa / row["us"]
    rows[1]["e4m3_speedup"] = results["bf16"] / results["e4m3"]
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
    print(f"{'shape':<6}{'impl':<6}{'kv':<6}{'us':>10}{'GB/s':>9}{'%copy':>7}{'x SDPA':>8}"
          f"{'e4m3/bf16':>10}")
    for row in rows:
        speedup = f"{row['e4m3_speedup']:.2f}" if "e4m3_speedup" in row else ""
        print(f"{row['shape']:<6}{row['impl']:<6}{row['dtype_kv']:<6}{row['us']:>10.1f}"
              f"{row['gbps']:>9.0f}{row['pct_copy']:>7.1f}{row['vs_sdpa']:>8.2f}{speedup:>10}")
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
