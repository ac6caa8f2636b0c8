"""float64 PyTorch reference for batch decode (DESIGN.md §5): the sink is an extra logit that is
softmaxed with the scores and dropped, as gpt-oss's reference implementation does."""
import torch


def decode_reference(q, k_cache, v_cache, indptr, indices, last_page_len, *, layout="NHD",
                     sinks=None, sm_scale, k_scale=1.0, v_scale=1.0, window_left=-1,
                     logits_soft_cap=0.0):
    """q (B, Hq, D); k_cache/v_cache (pages, page_size, Hkv, D) for NHD or (pages, Hkv,
    page_size, D) for HND, already decoded to float. Returns (out, lse) in float64."""
    if layout == "HND":
        k_cache, v_cache = k_cache.transpose(1, 2), v_cache.transpose(1, 2)
    batch, num_qo_heads, head_dim = q.shape
    page_size, num_kv_heads = k_cache.shape[1], k_cache.shape[2]
    group = num_qo_heads // num_kv_heads
    outs, lses = [], []
    for b in range(batch):
        pages = indices[indptr[b]:indptr[b + 1]].long()
        kv_len = (len(pages) - 1) * page_size + int(last_page_len[b])
        k = k_cache[pages].reshape(-1, num_kv_heads, head_dim)[:kv_len].double()
        v = v_cache[pages].reshape(-1, num_kv_heads, head_dim)[:kv_len].double()
        k = k.repeat_interleave(group, dim=1)  # (T, Hq, D)
        v = v.repeat_interleave(group, dim=1)
        scores = torch.einsum("hd,thd->ht", q[b].double(), k) * (sm_scale * k_scale)
        if logits_soft_cap > 0:
            scores = logits_soft_cap * torch.tanh(scores / logits_soft_cap)
        if window_left >= 0:
            first = max(0, kv_len - 1 - window_left)
            scores[:, :first] = float("-inf")
        if sinks is not None:
            scores = torch.cat([scores, sinks.double()[:, None]], dim=1)
        lse = torch.logsumexp(scores, dim=1)
        probs = torch.softmax(scores, dim=1)
        if sinks is not None:
            probs = probs[:, :-1]
        outs.append(torch.einsum("ht,thd->hd", probs, v) * v_scale)
        lses.append(lse)
    return torch.stack(outs), torch.stack(lses)


def relative_l2(got, want):
    got, want = got.double(), want.double()
    return float((got - want).norm() / want.norm())
