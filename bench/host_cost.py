#!/usr/bin/env python3
"""Where the host time of one wrapper.run call goes (issue 3's <= 10 us target).

  python3 bench/host_cost.py

Each figure is per_call_us(): the median over 5 rounds of 400 calls, timed while a sleep kernel
keeps the GPU busy, so launches only queue (decode_vs_torch.py uses the same). Rows: wrapper.run itself, three times
in a row (variance within one process); one small PyTorch op for scale; the tensor attribute
reads kjit makes (done from Python here, so an upper bound); the current-stream getter.
"""
import statistics
import time

import torch

import kjit

HQ, HKV, PAGE = 64, 8, 16


def per_call_us(fn, n=400):
    """Median over 5 rounds of n calls of the host time per call. The GPU is kept busy by a long
    sleep kernel queued first, and each round issues fewer launches than the driver queues, so
    the figure is the host's own cost: neither hidden by nor inflated with kernel execution (a
    tiny kernel runs ~3 us back to back, so without the sleep a full queue would time the GPU)."""
    rounds = []
    for _ in range(5):
        torch.cuda.synchronize()
        torch.cuda._sleep(50_000_000)  # ~25 ms of GPU time: nothing below runs meanwhile
        start = time.perf_counter()
        for _ in range(n):
            fn()
        rounds.append((time.perf_counter() - start) / n * 1e6)
    torch.cuda.synchronize()
    return statistics.median(rounds)


def planned_call():
    """A planned wrapper for batch 1, one token, sinks on, and its tensors, warmed up."""
    indptr = torch.tensor([0, 1], dtype=torch.int32, device="cuda")
    last = torch.tensor([1], dtype=torch.int32, device="cuda")
    q = torch.randn(1, HQ, 64, device="cuda").to(torch.bfloat16)
    k = torch.randn(1, PAGE, HKV, 64, device="cuda").to(torch.bfloat16)
    sinks = torch.zeros(HQ, device="cuda")
    out = torch.empty_like(q)
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(
        torch.empty(1 << 20, dtype=torch.uint8, device="cuda"))
    wrapper.plan(indptr, indptr[:1], last, HQ, HKV, 64, PAGE, q_data_type=torch.bfloat16,
                 use_sinks=True)
    for _ in range(200):
        wrapper.run(q, (k, k), sinks=sinks, out=out)
    return wrapper, q, k, sinks, out


def main():
    wrapper, q, k, sinks, out = planned_call()
    kv = (k, k)
    tensors = (q, k, k, out, sinks)

    def attributes():
        for t in tensors:
            t.dtype, t.get_device(), t.is_cuda, t.data_ptr(), t.shape, t.stride()

    getter = torch._C._cuda_getCurrentRawStream
    rows = [("wrapper.run", lambda: wrapper.run(q, kv, sinks=sinks, out=out))] * 3
    rows += [("torch op out.copy_(q)", lambda: out.copy_(q)),
             ("5 tensors x 6 attribute reads, from Python", attributes),
             ("current raw stream", lambda: getter(0))]
    print(f"device {torch.cuda.get_device_name()}")
    for name, fn in rows:
        print(f"{name:<45} {per_call_us(fn):7.2f} us")


if __name__ == "__main__":
    main()
