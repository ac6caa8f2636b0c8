"""The decode wrapper on a GPU against the float64 reference (skipped without CUDA + PyTorch)."""
import random

import pytest

from conftest import requires_gpu

torch = pytest.importorskip("torch", reason="GPU tests need PyTorch")
pytestmark = requires_gpu

import kjit  # noqa: E402
from conftest import WORKSPACE_BYTES  # noqa: E402
from reference import decode_reference, relative_l2  # noqa: E402

SEED = 1122
DTYPES = {"bf16": torch.bfloat16, "f16": torch.float16, "e4m3": torch.float8_e4m3fn,
          "e5m2": torch.float8_e5m2}
# 16-bit outputs: rounding alone is up to 2^-9 relative per element; 1e-2 leaves room for the
# float32 accumulation order (the C++ GPU test measures ~2e-3).
TOLERANCE = 1e-2


def make_batch(rng, *, batch, kv_lens, page_size, num_kv_heads, group, head_dim, q_dtype,
               kv_dtype, layout="NHD", device="cuda"):
    lens = [kv_lens[i % len(kv_lens)] for i in range(batch)]
    pages_per = [(n + page_size - 1) // page_size for n in lens]
    indptr = torch.tensor([0] + list(torch.tensor(pages_per).cumsum(0)), dtype=torch.int32)
    total = int(indptr[-1])
    num_pages = total + 5
    indices = torch.randperm(num_pages, generator=rng)[:total].to(torch.int32)
    last = torch.tensor([n - (p - 1) * page_size for n, p in zip(lens, pages_per)],
                        dtype=torch.int32)
    shape = ((num_pages, page_size, num_kv_heads, head_dim) if layout == "NHD"
             else (num_pages, num_kv_heads, page_size, head_dim))
    # Random values of moderate size; FP8 ones are drawn in float and rounded to the format.
    k = (torch.randn(shape, generator=rng) * 0.8).to(DTYPES[kv_dtype])
    v = (torch.randn(shape, generator=rng) * 0.8).to(DTYPES[kv_dtype])
    q = torch.randn((batch, num_kv_heads * group, head_dim), generator=rng).to(DTYPES[q_dtype])
    return dict(q=q.to(device), k=k.to(device), v=v.to(device), indptr=indptr.to(device),
                indices=indices.to(device), last=last.to(device))


def plan_and_run(data, *, q_dtype, kv_dtype, page_size, head_dim, num_kv_heads, sinks=None,
                 window_left=-1, cap=0.0, layout="NHD", combined=False, uint8_view=False,
                 k_scale=1.0, v_scale=1.0, return_lse=True):
    device = data["q"].device
    workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device=device)
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace, kv_layout=layout)
    wrapper.plan(data["indptr"], data["indices"], data["last"], data["q"].shape[1], num_kv_heads,
                 head_dim, page_size, q_data_type=DTYPES[q_dtype], kv_data_type=DTYPES[kv_dtype],
                 use_sinks=sinks is not None, window_left=window_left, logits_soft_cap=cap)
    k, v = data["k"], data["v"]
    if uint8_view:
        k, v = k.view(torch.uint8), v.view(torch.uint8)
    kv_cache = torch.stack([k, v], dim=1) if combined else (k, v)
    out = torch.full_like(data["q"], float("nan"))  # poisoned: every element must be written
    lse = torch.full(data["q"].shape[:2], float("nan"), device=device)
    wrapper.run(data["q"], kv_cache, sinks=sinks, k_scale=k_scale, v_scale=v_scale,
                return_lse=return_lse, out=out, lse=lse)
    torch.cuda.synchronize(device)
    return wrapper, out, lse


CASES = [(q, kv, s, w) for q in ("bf16", "f16") for kv in ("bf16", "f16", "e4m3", "e5m2")
         for s in (False, True) for w in (False, True) if not (s and kv == "e5m2")]


@pytest.mark.parametrize("q_dtype, kv_dtype, use_sinks, use_window", CASES)
def test_matches_float64_reference(q_dtype, kv_dtype, use_sinks, use_window):
    case_rng = random.Random(f"{SEED}-{q_dtype}-{kv_dtype}-{use_sinks}-{use_window}")
    rng = torch.Generator().manual_seed(case_rng.randrange(1 << 30))
    batch = case_rng.choice([1, 7, 64])
    page_size = case_rng.choice([1, 16])
    head_dim = case_rng.choice([64, 128])
    group = case_rng.choice([1, 8])
    num_kv_heads = case_rng.choice([1, 2, 4])
    layout = case_rng.choice(["NHD", "HND"])
    combined = case_rng.random() < 0.5
    uint8_view = kv_dtype in ("e4m3", "e5m2") and case_rng.random() < 0.5
    kv_lens = [1, 15, 16, 17, 1000, 4096] if batch > 1 else [case_rng.choice([17, 1000, 4096])]
    data = make_batch(rng, batch=batch, kv_lens=kv_lens, page_size=page_size,
                      num_kv_heads=num_kv_heads, group=group, head_dim=head_dim, q_dtype=q_dtype,
                      kv_dtype=kv_dtype, layout=layout)
    hq = num_kv_heads * group
    sinks = (torch.rand(hq, generator=rng) * 4 - 1).cuda() if use_sinks else None
    window = case_rng.randrange(0, 300) if use_window else -1
    k_scale, v_scale = 0.5 + case_rng.random(), 0.5 + case_rng.random()
    wrapper, out, lse = plan_and_run(
        data, q_dtype=q_dtype, kv_dtype=kv_dtype, page_size=page_size, head_dim=head_dim,
        num_kv_heads=num_kv_heads, sinks=sinks, window_left=window, layout=layout,
        combined=combined, uint8_view=uint8_view, k_scale=k_scale, v_scale=v_scale)
    assert ("attention_sink" in wrapper.kernel_uri) == use_sinks
    assert f"dtype_kv_{kv_dtype}" in wrapper.kernel_uri
    want, want_lse = decode_reference(
        data["q"], data["k"].float(), data["v"].float(), data["indptr"], data["indices"],
        data["last"], layout=layout, sinks=sinks, sm_scale=head_dim ** -0.5, k_scale=k_scale,
        v_scale=v_scale, window_left=window)
    assert torch.isfinite(out).all() and torch.isfinite(lse).all()
    error = relative_l2(out, want)
    print(f"{q_dtype}/{kv_dtype} sinks={use_sinks} window={window} batch={batch} "
          f"page={page_size} d={head_dim} group={group} {layout} combined={combined}: "
          f"rel L2 {error:.2e}")
    assert error <= TOLERANCE
    assert torch.allclose(lse.double(), want_lse, atol=1e-3, rtol=1e-4)


@pytest.mark.skipif(torch.cuda.device_count() < 2,
                    reason="needs 2 CUDA devices (the nvidia-h200-x2 device kind)")
def test_every_device_runs_the_same_cached_kernel():
    """Issue 5, per device: one kernel (one URI, one cache entry) is loaded on each device
    it is used on and is correct there. The current device stays 0 throughout, so kjit must
    follow the tensors' device rather than the current one."""
    rng = torch.Generator().manual_seed(SEED)
    uris = set()
    for index in range(torch.cuda.device_count()):
        device = torch.device("cuda", index)
        data = make_batch(rng, batch=5, kv_lens=[33, 1000, 4096], page_size=16, num_kv_heads=2,
                          group=8, head_dim=64, q_dtype="bf16", kv_dtype="e4m3", device=device)
        sinks = (torch.rand(16, generator=rng) * 4 - 1).to(device)
        wrapper, out, lse = plan_and_run(data, q_dtype="bf16", kv_dtype="e4m3", page_size=16,
                                         head_dim=64, num_kv_heads=2, sinks=sinks)
        assert torch.cuda.current_device() == 0 and out.device == device
        want, want_lse = decode_reference(
            data["q"], data["k"].float(), data["v"].float(), data["indptr"], data["indices"],
            data["last"], layout="NHD", sinks=sinks, sm_scale=64 ** -0.5)
        error = relative_l2(out, want)
        print(f"device {index} ({torch.cuda.get_device_name(device)}): rel L2 {error:.2e}")
        assert torch.isfinite(out).all() and error <= TOLERANCE
        assert torch.allclose(lse.double(), want_lse, atol=1e-3, rtol=1e-4)
        uris.add(wrapper.kernel_uri)
    assert len(uris) == 1
    # One cubin in the cache serves both devices (same architecture, so the same key).
    assert [entry["uri"] for entry in kjit.cache.list()].count(uris.pop()) == 1


def test_fp8_kv_agrees_with_bf16_kv():
    """The same data stored as BF16 and as E4M3 with a per-tensor scale.

    Bound: E4M3 keeps 3 mantissa bits, so each stored element is off by at most 2^-4 relative
    (round to nearest), ~2^-4/sqrt(3) = 3.6% RMS. V's error enters the output linearly and
    averages over the attended tokens; K's error perturbs scores by about the same relative
    amount of each term of <q, k>. 2^-3 = 0.125 rel L2 bounds both with margin; the measured
    value is printed (typically a few percent).
    """
    rng = torch.Generator().manual_seed(SEED)
    data = make_batch(rng, batch=16, kv_lens=[64, 777, 2048], page_size=16, num_kv_heads=8,
                      group=8, head_dim=64, q_dtype="bf16", kv_dtype="bf16")
    sinks = (torch.rand(64, generator=rng) * 4 - 1).cuda()
    _, out_bf16, _ = plan_and_run(data, q_dtype="bf16", kv_dtype="bf16", page_size=16,
                                  head_dim=64, num_kv_heads=8, sinks=sinks)
    k_scale = float(data["k"].float().abs().max()) / 448
    v_scale = float(data["v"].float().abs().max()) / 448
    fp8 = dict(data, k=(data["k"].float() / k_scale).to(torch.float8_e4m3fn),
               v=(data["v"].float() / v_scale).to(torch.float8_e4m3fn))
    wrapper, out_fp8, _ = plan_and_run(fp8, q_dtype="bf16", kv_dtype="e4m3", page_size=16,
                                       head_dim=64, num_kv_heads=8, sinks=sinks, k_scale=k_scale,
                                       v_scale=v_scale)
    assert "attention_sink" in wrapper.kernel_uri and "e4m3" in wrapper.kernel_uri
    error = relative_l2(out_fp8, out_bf16)
    print(f"E4M3 vs BF16 KV: rel L2 {error:.3e} (bound 0.125)")
    assert torch.isfinite(out_fp8).all()
    assert error <= 0.125


@pytest.mark.parametrize("kv_dtype, page_size, use_sinks",
                         [("bf16", 64, False), ("bf16", 16, True), ("e4m3", 32, True)])
def test_contiguous_cache_through_a_strided_page_view(kv_dtype, page_size, use_sinks):
    """A contiguous (batch, h_kv, capacity, d) cache, the layout SDPA reads, decoded in place:
    HND pages whose strides are (page·d, capacity·d, d, 1), so that pages overlap in memory and
    page b·h_kv·(capacity / page) + j is tokens [j·page, (j + 1)·page) of request b's heads
    (bench/decode_vs_torch.py times kjit this way). The reference reads the contiguous tensor
    directly, without pages; requests end mid-page and the tokens past their ends are NaN, so a
    read beyond a request's length shows."""
    rng = torch.Generator().manual_seed(SEED)
    batch, num_kv_heads, group, head_dim, capacity = 5, 2, 8, 64, 512
    lens = torch.randint(1, capacity + 1, (batch,), generator=rng).tolist()
    kc = torch.randn(batch, num_kv_heads, capacity, head_dim, generator=rng).to(DTYPES[kv_dtype])
    vc = torch.randn(batch, num_kv_heads, capacity, head_dim, generator=rng).to(DTYPES[kv_dtype])
    for b, n in enumerate(lens):
        kc[b, :, n:], vc[b, :, n:] = float("nan"), float("nan")
    q = torch.randn(batch, num_kv_heads * group, head_dim, generator=rng).to(torch.bfloat16)
    sinks = torch.rand(num_kv_heads * group, generator=rng) * 4 - 1 if use_sinks else None

    pages_per = capacity // page_size
    view_pages = (batch - 1) * num_kv_heads * pages_per + pages_per  # last used page + 1
    strides = (page_size * head_dim, capacity * head_dim, head_dim, 1)
    k_view = kc.cuda().as_strided((view_pages, num_kv_heads, page_size, head_dim), strides)
    v_view = vc.cuda().as_strided((view_pages, num_kv_heads, page_size, head_dim), strides)
    used = [(n + page_size - 1) // page_size for n in lens]
    indices = torch.cat([b * num_kv_heads * pages_per + torch.arange(p) for b, p in enumerate(used)])
    indptr = torch.tensor([0] + list(torch.tensor(used).cumsum(0)), dtype=torch.int32)
    last = torch.tensor([n - (p - 1) * page_size for n, p in zip(lens, used)], dtype=torch.int32)
    data = dict(q=q.cuda(), k=k_view, v=v_view, indptr=indptr.cuda(),
                indices=indices.to(torch.int32).cuda(), last=last.cuda())
    _, out, lse = plan_and_run(data, q_dtype="bf16", kv_dtype=kv_dtype, page_size=page_size,
                               head_dim=head_dim, num_kv_heads=num_kv_heads,
                               sinks=None if sinks is None else sinks.cuda(), layout="HND")

    want, want_lse = [], []
    for b, n in enumerate(lens):
        k = kc[b, :, :n].double().repeat_interleave(group, dim=0)  # (hq, n, d)
        v = vc[b, :, :n].double().repeat_interleave(group, dim=0)
        scores = torch.einsum("hd,htd->ht", q[b].double(), k) * head_dim ** -0.5
        if sinks is not None:
            scores = torch.cat([scores, sinks.double()[:, None]], dim=1)
        want_lse.append(torch.logsumexp(scores, dim=1))
        want.append(torch.einsum("ht,htd->hd", torch.softmax(scores, dim=1)[:, :n], v))
    want, want_lse = torch.stack(want), torch.stack(want_lse)
    error = relative_l2(out.cpu(), want)
    print(f"contiguous cache as {kv_dtype} pages of {page_size}, sinks={use_sinks}, "
          f"lengths {lens}: rel L2 {error:.2e}")
    assert torch.isfinite(out).all()
    assert error <= TOLERANCE
    assert torch.allclose(lse.cpu().double(), want_lse, atol=1e-3, rtol=1e-4)


@pytest.mark.parametrize("q, kv, sinks, message", [
    (torch.float8_e4m3fn, torch.float8_e4m3fn, True, "FP8 queries"),
    (torch.float8_e5m2, torch.bfloat16, False, "FP8 queries"),
    (torch.bfloat16, torch.float8_e5m2, True, "attention sinks"),
    (torch.bfloat16, torch.float32, True, "attention sinks"),
])
def test_guard_rejections_raise_at_plan(q, kv, sinks, message):
    indptr = torch.tensor([0, 1], dtype=torch.int32, device="cuda")
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(torch.empty(WORKSPACE_BYTES, dtype=torch.uint8,
                                                                  device="cuda"))
    with pytest.raises(NotImplementedError, match=message):
        wrapper.plan(indptr, indptr[:1], indptr[1:], 8, 1, 64, 16, q_data_type=q,
                     kv_data_type=kv, use_sinks=sinks)
    with pytest.raises(ValueError, match="plan"):
        wrapper.kernel_uri


def test_sinks_are_never_silently_ignored():
    rng = torch.Generator().manual_seed(SEED)
    data = make_batch(rng, batch=2, kv_lens=[40], page_size=16, num_kv_heads=1, group=8,
                      head_dim=64, q_dtype="bf16", kv_dtype="bf16")
    kv = (data["k"], data["v"])
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(
        torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda"))
    wrapper.plan(data["indptr"], data["indices"], data["last"], 8, 1, 64, 16,
                 q_data_type=torch.bfloat16, use_sinks=False)
    with pytest.raises(ValueError, match="without use_sinks"):
        wrapper.run(data["q"], kv, sinks=torch.zeros(8, device="cuda"))
    wrapper.plan(data["indptr"], data["indices"], data["last"], 8, 1, 64, 16,
                 q_data_type=torch.bfloat16, use_sinks=True)
    with pytest.raises(ValueError, match="no sinks"):
        wrapper.run(data["q"], kv)


def test_argument_errors_name_the_argument():
    rng = torch.Generator().manual_seed(SEED)
    data = make_batch(rng, batch=2, kv_lens=[40], page_size=16, num_kv_heads=1, group=8,
                      head_dim=64, q_dtype="bf16", kv_dtype="e4m3")
    workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda")
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace)
    wrapper.plan(data["indptr"], data["indices"], data["last"], 8, 1, 64, 16,
                 q_data_type=torch.bfloat16, kv_data_type=torch.float8_e4m3fn)
    kv = (data["k"], data["v"])
    with pytest.raises(ValueError, match="q has dtype f16"):
        wrapper.run(data["q"].half(), kv)
    with pytest.raises(ValueError, match="q has shape"):
        wrapper.run(data["q"][:1], kv)
    with pytest.raises(ValueError, match="k_cache has dtype bf16"):
        wrapper.run(data["q"], (data["k"].bfloat16(), data["v"].bfloat16()))
    with pytest.raises(ValueError, match="CUDA tensor"):
        wrapper.run(data["q"].cpu(), kv)
    with pytest.raises(ValueError, match="contiguous"):
        wrapper.run(data["q"].transpose(1, 2).contiguous().transpose(1, 2), kv)
    with pytest.raises(ValueError, match="indptr"):
        wrapper.plan(data["indptr"][:2], data["indices"], data["last"], 8, 1, 64, 16,
                     q_data_type=torch.bfloat16)
    with pytest.raises(ValueError, match="multiple of num_kv_heads"):
        wrapper.plan(data["indptr"], data["indices"], data["last"], 8, 3, 64, 16,
                     q_data_type=torch.bfloat16)
    misaligned = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace[8:])
    with pytest.raises(ValueError, match="16-byte aligned"):
        misaligned.plan(data["indptr"], data["indices"], data["last"], 8, 1, 64, 16,
                        q_data_type=torch.bfloat16)


def test_a_failed_plan_leaves_the_wrapper_unplanned():
    rng = torch.Generator().manual_seed(SEED)
    small = make_batch(rng, batch=2, kv_lens=[40], page_size=16, num_kv_heads=1, group=8,
                       head_dim=64, q_dtype="bf16", kv_dtype="bf16")
    long = make_batch(rng, batch=1, kv_lens=[32768], page_size=16, num_kv_heads=1, group=8,
                      head_dim=64, q_dtype="bf16", kv_dtype="bf16")
    workspace = torch.empty(4096, dtype=torch.uint8, device="cuda")  # enough for `small` only
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace)
    wrapper.plan(small["indptr"], small["indices"], small["last"], 8, 1, 64, 16,
                 q_data_type=torch.bfloat16)
    wrapper.run(small["q"], (small["k"], small["v"]))
    with pytest.raises(ValueError, match="the workspace holds 4096 bytes"):
        wrapper.plan(long["indptr"], long["indices"], long["last"], 8, 1, 64, 16,
                     q_data_type=torch.bfloat16)
    for use in (lambda: wrapper.run(small["q"], (small["k"], small["v"])),
                lambda: wrapper.kernel_uri):
        with pytest.raises(ValueError, match="call plan"):
            use()


def test_run_is_cuda_graph_capturable():
    rng = torch.Generator().manual_seed(SEED)
    data = make_batch(rng, batch=8, kv_lens=[100, 700], page_size=16, num_kv_heads=2, group=8,
                      head_dim=64, q_dtype="bf16", kv_dtype="e4m3")
    sinks = torch.randn(16, generator=rng).cuda()
    workspace = torch.empty(WORKSPACE_BYTES, dtype=torch.uint8, device="cuda")
    wrapper = kjit.BatchDecodeWithPagedKVCacheWrapper(workspace)
    wrapper.plan(data["indptr"], data["indices"], data["last"], 16, 2, 64, 16,
                 q_data_type=torch.bfloat16, kv_data_type=torch.float8_e4m3fn, use_sinks=True)
    out = torch.empty_like(data["q"])
    stream = torch.cuda.Stream()
    stream.wait_stream(torch.cuda.current_stream())
    with torch.cuda.stream(stream):
        wrapper.run(data["q"], (data["k"], data["v"]), sinks=sinks, out=out)  # warm-up
    torch.cuda.current_stream().wait_stream(stream)
    graph = torch.cuda.CUDAGraph()
    with torch.cuda.graph(graph):
        wrapper.run(data["q"], (data["k"], data["v"]), sinks=sinks, out=out)
    for _ in range(2):
        data["q"].copy_(torch.randn(data["q"].shape, generator=rng).to(torch.bfloat16))
        out.fill_(float("nan"))
        graph.replay()
        torch.cuda.synchronize()
        want, _ = decode_reference(data["q"], data["k"].float(), data["v"].float(),
                                   data["indptr"], data["indices"], data["last"], sinks=sinks,
                                   sm_scale=0.125)
        assert relative_l2(out, want) <= TOLERANCE
