"""Small, pure-numpy operations on attention weights.

* :func:`hide_tokens` drops the rows and columns of tokens (special tokens, say) and renormalises each
  remaining row to sum to 1 (a row whose remaining weights are all zero stays zero).
* :func:`head_matrix` picks one head of one layer, or the mean / max over the heads.
* :func:`quantize` / :func:`dequantize` turn weights in [0, 1] into ``uint8`` (``round(w * 255)``) and
  back; the round trip is exact to within ``1/510``.
"""

from __future__ import annotations

from .lazy import np

from .errors import AttnvizError

__all__ = ["hide_tokens", "head_matrix", "quantize", "dequantize", "rollout", "attention_flow", "check_flow_size",
           "flow_cost", "fuse_heads", "residual_attention", "word_groups", "merge_words", "head_summary",
           "named_heads", "LOCAL_WINDOW", "NAMED_SHARE",
           "FLOW_MAX_TOKENS", "FLOW_MAX_LAYERS", "FLOW_MAX_COST"]


def head_matrix(weights_layer: np.ndarray, head: int | str) -> np.ndarray:
    """One ``(n, n)`` matrix from the ``(heads, n, n)`` weights of a layer: a head, ``'mean'`` or ``'max'``."""
    w = np.asarray(weights_layer)
    if w.ndim != 3:
        raise ValueError(f"expected (heads, n, n) weights, got shape {w.shape}")
    if head == "mean":
        return w.mean(axis=0, dtype=np.float64).astype(np.float32)
    if head == "max":
        return w.max(axis=0).astype(np.float32)
    if isinstance(head, str):
        raise ValueError(f"head must be an index, 'mean' or 'max', not {head!r}")
    return np.asarray(w[int(head)], dtype=np.float32)


def quantize(weights: np.ndarray) -> np.ndarray:
    """``round(w * 255)`` clipped to 0..255, as ``uint8`` (NaN becomes 0)."""
    w = np.nan_to_num(np.asarray(weights, dtype=np.float64), nan=0.0)
    return np.clip(np.rint(w * 255.0), 0, 255).astype(np.uint8)


def dequantize(q: np.ndarray) -> np.ndarray:
    """Back from :func:`quantize` to float32 in [0, 1]."""
    return np.asarray(q, dtype=np.float32) / np.float32(255.0)


# ------------------------------------------------------------------------------------------------------
# Beyond raw weights (docs/analysis.md states each formula and its source)
# ------------------------------------------------------------------------------------------------------

#: longest input and deepest model attention flow is computed for (see :func:`attention_flow`)
FLOW_MAX_TOKENS = 32
FLOW_MAX_LAYERS = 12
#: the most work :func:`attention_flow` takes on, in units of layers² × tokens⁴ (one max-flow per (layer,
#: output token, input token) on a graph of up to layers × tokens² arcs): about 30 s on one core, e.g. 32
#: tokens with 6 layers or 22 tokens with 12 (measured, see docs/analysis.md)
FLOW_MAX_COST = 40_000_000

_EPS = 1e-12


def fuse_heads(weights: np.ndarray, how: str = "mean") -> np.ndarray:
    """``(layers, heads, n, n)`` → ``(layers, n, n)`` float64: the mean (Abnar & Zuidema) or max over heads."""
    w = np.asarray(weights, dtype=np.float64)
    if w.ndim != 4 or w.shape[2] != w.shape[3]:
        raise ValueError(f"expected (layers, heads, n, n) weights, got shape {w.shape}")
    if how == "mean":
        return w.mean(axis=1)
    if how == "max":
        return w.max(axis=1)
    raise ValueError(f"heads are fused with 'mean' or 'max', not {how!r}")


def residual_attention(fused: np.ndarray) -> np.ndarray:
    """Â = ½(Ā + I) per layer, each row renormalised to sum to 1 (the residual connection, Abnar & Zuidema 2020)."""
    a = np.asarray(fused, dtype=np.float64)
    n = a.shape[-1]
    a = 0.5 * a + 0.5 * np.eye(n)
    sums = a.sum(-1, keepdims=True)
    return a / np.where(sums > 0, sums, 1.0)


def rollout(weights: np.ndarray, how: str = "mean") -> np.ndarray:
    """Attention rollout up to every layer: ``out[l] = Â_l · Â_{l-1} ⋯ Â_0`` (``(layers, n, n)``, rows sum to 1).

    ``out[l][i, j]`` is how much of input token ``j`` reaches position ``i`` after layer ``l``, when the
    heads of each layer are fused with ``how`` and the residual connection is counted as ½ (Abnar &
    Zuidema 2020, "Quantifying Attention Flow in Transformers", eq. for attention rollout)."""
    a = residual_attention(fuse_heads(weights, how))
    out = np.empty_like(a)
    r = np.eye(a.shape[-1])
    for layer in range(a.shape[0]):
        r = a[layer] @ r
        out[layer] = r
    return out


def _max_flow(adj: list[list[int]], cap: dict[tuple[int, int], float], s: int, t: int) -> float:
    """Dinic's max-flow on a small graph given as adjacency lists and a capacity per (u, v) arc.

    ``adj[u]`` must list every ``v`` with ``(u, v)`` or ``(v, u)`` in ``cap`` (residual arcs both ways)."""
    flow: dict[tuple[int, int], float] = {}

    # net flow is kept antisymmetric (f(v, u) = -f(u, v)), so the residual of (u, v) is cap(u, v) - f(u, v)
    def res(u: int, v: int) -> float:
        return cap.get((u, v), 0.0) - flow.get((u, v), 0.0)

    total = 0.0
    n = len(adj)
    while True:
        level = [-1] * n
        level[s] = 0
        queue = [s]
        for u in queue:
            for v in adj[u]:
                if level[v] < 0 and res(u, v) > _EPS:
                    level[v] = level[u] + 1
                    queue.append(v)
        if level[t] < 0:
            return total
        pointer = [0] * n

        def push(u: int, limit: float) -> float:
            if u == t:
                return limit
            arcs = adj[u]
            while pointer[u] < len(arcs):
                v = arcs[pointer[u]]
                r = res(u, v)
                if r > _EPS and level[v] == level[u] + 1:
                    got = push(v, min(limit, r))
                    if got > _EPS:
                        flow[(u, v)] = flow.get((u, v), 0.0) + got
                        flow[(v, u)] = flow.get((v, u), 0.0) - got
                        return got
                pointer[u] += 1
            return 0.0

        while True:
            got = push(s, float("inf"))
            if got <= _EPS:
                break
            total += got


def flow_cost(num_layers: int, n: int) -> int:
    """Work of :func:`attention_flow`, in units the limit :data:`FLOW_MAX_COST` is stated in."""
    return num_layers * num_layers * n * n * n * n


def check_flow_size(num_layers: int, n: int) -> None:
    """Refuse inputs too long or models too deep for :func:`attention_flow` (``AttnvizError``, option aggregate)."""
    if n > FLOW_MAX_TOKENS or num_layers > FLOW_MAX_LAYERS or flow_cost(num_layers, n) > FLOW_MAX_COST:
        raise AttnvizError(
            f"attention flow solves one max-flow problem per (layer, output token, input token) on a graph of "
            f"layers × tokens² edges; this input has {n} tokens and {num_layers} layers, more than it is computed "
            f"for (at most {FLOW_MAX_TOKENS} tokens, {FLOW_MAX_LAYERS} layers, and layers² × tokens⁴ ≤ "
            f"{FLOW_MAX_COST:,}: 32 tokens with 6 layers, 22 with 12). Use aggregate=\"rollout\", a shorter "
            "sentence or max_tokens=", option="aggregate")


def attention_flow(weights: np.ndarray, how: str = "mean", *, check: bool = True) -> np.ndarray:
    """Attention flow up to every layer (Abnar & Zuidema 2020): ``(layers, n, n)``, rows sum to 1.

    The graph has a node per (layer boundary, token), ``l = 0..L`` (0: the input embeddings), and an arc
    from ``(l, i)`` down to ``(l-1, j)`` with capacity ``Â_{l-1}[i, j]`` (heads fused, residual ½(A + I),
    rows renormalised). ``out[l-1][i, j]`` is the max-flow from ``(l, i)`` to ``(0, j)``, each row then
    normalised to sum to 1 (as in the authors' ``compute_flows``)."""
    a = residual_attention(fuse_heads(weights, how))
    num_layers, n = a.shape[0], a.shape[-1]
    if check:
        check_flow_size(num_layers, n)
    out = np.zeros((num_layers, n, n))
    for top in range(1, num_layers + 1):
        # nodes: layer m token i -> m * n + i for m = 1..top; the sink of each problem is one layer-0 node
        size = (top + 1) * n
        adj: list[list[int]] = [[] for _ in range(size)]
        cap: dict[tuple[int, int], float] = {}
        for m in range(1, top + 1):
            for i in range(n):
                u = m * n + i
                for j in range(n):
                    c = float(a[m - 1, i, j])
                    if c > _EPS:
                        v = (m - 1) * n + j
                        cap[(u, v)] = c
                        adj[u].append(v)
                        adj[v].append(u)
        for i in range(n):
            row = np.array([_max_flow(adj, cap, top * n + i, j) for j in range(n)])
            total = row.sum()
            out[top - 1, i] = row / total if total > 0 else row
    return out


def word_groups(word_ids: list, special: list[bool], segments: list[int] | None = None) -> list[list[int]]:
    """Runs of consecutive tokens that belong to one word (same segment and word id); specials alone."""
    n = len(word_ids)
    segments = segments if segments is not None else [0] * n
    groups: list[list[int]] = []
    previous = None
    for i in range(n):
        key = None if special[i] or word_ids[i] is None else (segments[i], word_ids[i])
        if key is not None and key == previous and groups:
            groups[-1].append(i)
        else:
            groups.append([i])
        previous = key
    return groups


def merge_words(weights: np.ndarray, groups: list[list[int]]) -> np.ndarray:
    """Subword → word attention (Clark et al. 2019): ``W[a, b] = mean_{p ∈ a} Σ_{q ∈ b} A[p, q]``.

    Attention *to* a word is the sum over its pieces, attention *from* a word the mean over its pieces,
    so rows that summed to 1 still do. Works on any ``(..., n, n)`` stack."""
    w = np.asarray(weights, dtype=np.float64)
    n = w.shape[-1]
    m = len(groups)
    cols = np.zeros((n, m))  # sum over the key pieces
    rows = np.zeros((m, n))  # mean over the query pieces
    for g, members in enumerate(groups):
        cols[members, g] = 1.0
        rows[g, members] = 1.0 / len(members)
    return rows @ w @ cols


def hide_tokens(weights: np.ndarray, keep_q: list[bool], keep_k: list[bool] | None = None, *,
                renormalise: bool) -> np.ndarray:
    """Drop the query rows and key columns of the tokens not kept (``keep_k`` defaults to ``keep_q``: a square
    set); with ``renormalise`` each remaining row is rescaled to sum to 1 (a row of zeros stays zero).
    Works on any ``(..., nq, nk)`` stack; float64 out."""
    qi = np.flatnonzero(np.asarray(keep_q, dtype=bool))
    ki = np.flatnonzero(np.asarray(keep_q if keep_k is None else keep_k, dtype=bool))
    w = np.asarray(weights, dtype=np.float64)[..., qi, :][..., ki]
    if renormalise:
        sums = w.sum(-1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            w = np.where(sums > 0, w / np.where(sums > 0, sums, 1.0), 0.0)
    return w


#: a local head's window: tokens at most this many positions from the query (the first token aside)
LOCAL_WINDOW = 2
#: a head is named a sink (local) head when, on average over the queries after the first, at least this share of
#: its attention goes to the first token (stays within the window), and at least twice what uniform attention over
#: the same keys would give
NAMED_SHARE = 0.5


def head_summary(weights: np.ndarray, special: list[bool], causal: bool = False) -> dict[str, np.ndarray]:
    """Per layer × head statistics of ``(layers, heads, n, n)`` attention, each a ``(layers, heads)`` array.

    ``entropy_nats``: −(1/n) Σᵢ Σⱼ Aᵢⱼ log Aᵢⱼ (0 log 0 = 0); ``entropy``: that divided by log n (Clark et
    al. 2019 compare with the uniform distribution, whose entropy is log n); ``distance``: (1/n) Σᵢ Σⱼ Aᵢⱼ
    |i − j|; ``special``: (1/n) Σᵢ Σ_{j special} Aᵢⱼ; ``previous``/``next``: the mean of Aᵢ,ᵢ₋₁ over i ≥ 1 /
    of Aᵢ,ᵢ₊₁ over i ≤ n − 2; ``self``: the mean of Aᵢᵢ; ``sink``: the mean of Aᵢ₀ over i ≥ 1 (the attention sink of
    long-context papers, Xiao et al. 2024); ``local``: the mean over i ≥ 1 of Σ_{0 < j, |i − j| ≤ w} Aᵢⱼ
    (w = :data:`LOCAL_WINDOW`). ``sink_uniform`` / ``local_uniform`` (scalars) are what uniform attention over each
    query's keys (its past for a ``causal`` model) would give, the baseline :func:`named_heads` compares with."""
    w = np.asarray(weights, dtype=np.float64)
    n = w.shape[-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(w > 0, w * np.log(np.where(w > 0, w, 1.0)), 0.0)
    entropy = -plogp.sum(-1).mean(-1)
    idx = np.arange(n)
    near = (np.abs(idx[:, None] - idx[None, :]) <= LOCAL_WINDOW) & (idx[None, :] > 0)
    later = idx[1:]
    keys = (later + 1) if causal else np.full(n - 1, n)  # keys each query after the first may see
    visible = (idx[None, :] <= later[:, None]) if causal else np.ones((n - 1, n), dtype=bool)
    zeros = np.zeros(w.shape[:2])
    out = {
        "entropy_nats": entropy,
        "entropy": entropy / np.log(n) if n > 1 else np.zeros_like(entropy),
        "distance": (w * np.abs(idx[:, None] - idx[None, :])).sum(-1).mean(-1),
        "special": w[..., np.asarray(special, dtype=bool)].sum(-1).mean(-1) if any(special) else zeros,
        "previous": w[..., idx[1:], idx[:-1]].mean(-1) if n > 1 else zeros,
        "self": w[..., idx, idx].mean(-1),
        "next": w[..., idx[:-1], idx[1:]].mean(-1) if n > 1 else zeros,
        "sink": w[..., 1:, 0].mean(-1) if n > 1 else zeros,
        "local": (w * near)[..., 1:, :].sum(-1).mean(-1) if n > 1 else zeros,
        "sink_uniform": np.float64((1.0 / keys).mean() if n > 1 else 1.0),
        "local_uniform": np.float64(((near[1:] & visible).sum(-1) / keys).mean() if n > 1 else 0.0),
    }
    return out


def named_heads(stats: dict[str, np.ndarray], kind: str) -> list[tuple[int, int, float]]:
    """``(layer, head, share)`` of the sink (``kind="sink"``) or local heads, largest share first: at least
    :data:`NAMED_SHARE` and twice the uniform baseline; a head named a sink head is not also named local."""
    share = stats[kind]
    floor = max(NAMED_SHARE, 2 * float(stats[f"{kind}_uniform"]))
    found = share >= floor
    if kind == "local":
        found &= ~(stats["sink"] >= max(NAMED_SHARE, 2 * float(stats["sink_uniform"])))
    heads = [(int(layer), int(head), float(share[layer, head])) for layer, head in zip(*np.nonzero(found))]
    return sorted(heads, key=lambda x: (-x[2], x[0], x[1]))
