"""interval_reduce.py: a log interval's counts, from every layer's device state to host arrays.

Per process, every layer's counts [E], kept [E], per-step counts [S, E], totals [n_totals],
co-activation [E, E] and out-of-range-id count [1] are packed into one float64 vector (exact for
counts below 2^53); under torch.distributed one all-reduce (SUM) of that vector and one (MAX) of
the per-layer max logits make the interval the global batch's, as moescope's C++ multi-rank
path does (src/scope/microscope_ranks.cpp); then one host transfer. Evaluation counts [E] are
reduced the same way (SUM), so an evaluation sharded over ranks is counted whole.
"""
from __future__ import annotations

from typing import List, NamedTuple, Sequence

import numpy as np

from .layer_interval import DEVICE_SUMS, TOTAL_INDEX, TOTALS, LayerInterval, torch_module


class LayerArrays(NamedTuple):
    """One layer's interval on the host (int64 counts, float64 totals)."""
    counts: np.ndarray   # [E]
    kept: np.ndarray     # [E]
    steps: np.ndarray    # [S, E]
    totals: np.ndarray   # [n_totals], logit_max set to the reduced max
    coact: np.ndarray    # [E, E]


def distributed(torch) -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


def gather_interval(ordered: Sequence[LayerInterval], group=None) -> List[LayerArrays]:
    """The interval of every layer in `ordered`, reduced over the process group when one is
    initialised. Raises ValueError naming the layer when a device counted out-of-range ids."""
    torch = torch_module()
    if not distributed(torch) and all(L.device is None or L.device.type == "cpu" for L in ordered):
        return [_host_layer(L) for L in ordered]  # nothing to reduce or transfer: numpy views
    for L in ordered:  # the CPU fast path's max logit (a float32 value: exact) joins the device path's
        if L.logit_max_host > -1e30:
            d = L.logit_max[0].device if L.logit_max else torch.device("cpu")
            L.logit_max.append(torch.tensor(L.logit_max_host, dtype=torch.float32, device=d))
    parts, shapes = [], []
    dev = next((l.device for l in ordered if l.device is not None), torch.device("cpu"))
    f64 = torch.float64
    for L in ordered:
        def z(*s):
            return torch.zeros(*s, dtype=f64, device=dev)
        S = L.n_steps
        if L.buf is not None:
            # (a forward after the last step's end counts in the interval, not in a step)
            steps = L.buf[:S].to(dev, f64)
            counts = L.buf[:S + 1].to(dev, f64).sum(0)
        else:
            steps, counts = z(S, L.E), z(L.E)
        kept = counts + L.kept_explicit.to(dev, f64) if L.kept_explicit is not None else counts
        totals = z(len(TOTALS))
        if L.sums is not None:
            totals[[TOTAL_INDEX[n] for n in DEVICE_SUMS]] = L.sums.to(dev)
        totals[[TOTAL_INDEX[n] for n in L.host]] = torch.tensor(list(L.host.values()), dtype=f64, device=dev)
        coact = L.coact.to(dev, f64) if L.coact is not None else z(L.E, L.E)
        bad = L.bad.to(dev, f64).reshape(1) if L.bad is not None else z(1)
        for t in (counts, kept, steps, totals, coact, bad):
            parts.append(t.reshape(-1))
            shapes.append(tuple(t.shape))
    packed = torch.cat(parts)
    maxes = torch.stack([torch.stack(L.logit_max).max().to(dev, f64) if L.logit_max
                         else torch.tensor(-1e30, dtype=f64, device=dev) for L in ordered])
    if distributed(torch):
        torch.distributed.all_reduce(packed, group=group)                                   # the interval's counts
        torch.distributed.all_reduce(maxes, op=torch.distributed.ReduceOp.MAX, group=group)
    host = packed.cpu().numpy()  # the one host transfer of the interval
    host_max = maxes.cpu().numpy()
    out, off, it = [], 0, iter(shapes)
    for L, mx in zip(ordered, host_max):
        row = []
        for _k in range(6):
            shp = next(it)
            n = int(np.prod(shp)) if len(shp) else 1
            row.append(host[off:off + n].reshape(shp))
            off += n
        counts, kept, steps, totals, coact, bad = row
        _check_bad(L, bad[0])
        totals = totals.copy()
        totals[TOTAL_INDEX["logit_max"]] = mx
        out.append(LayerArrays(np.rint(counts).astype(np.int64), np.rint(kept).astype(np.int64),
                               np.rint(steps).astype(np.int64).reshape(-1, L.E), totals,
                               np.rint(coact).astype(np.int64)))
    return out


def _check_bad(L: LayerInterval, n_bad):
    if n_bad > 0:
        raise ValueError(f"moescope: layer {L.layer} ({L.name}): {int(n_bad)} expert ids were not in "
                         f"[0, {L.E}) in this interval (n_experts = {L.E})")


def _host_layer(L: LayerInterval) -> LayerArrays:
    """One CPU layer's interval read through numpy views (no reduction, no transfer)."""
    S, E = L.n_steps, L.E
    if L.buf is None:
        z = np.zeros(E, np.int64)
        return LayerArrays(z, z, np.zeros((S, E), np.int64), _host_totals(L, None), np.zeros((E, E), np.int64))
    _check_bad(L, int(L.bad))
    buf = L.buf.numpy()
    counts = buf[:S + 1].sum(0)  # (a forward after the last step's end counts in the interval, not in a step)
    kept = counts + L.kept_explicit.numpy() if L.kept_explicit is not None else counts
    coact = L.coact.numpy().copy() if L.coact is not None else np.zeros((E, E), np.int64)
    return LayerArrays(counts, kept, buf[:S].copy(), _host_totals(L, L.sums.numpy()), coact)


def _host_totals(L: LayerInterval, sums) -> np.ndarray:
    t = np.zeros(len(TOTALS), np.float64)
    if sums is not None:
        for n, v in zip(DEVICE_SUMS, sums):
            t[TOTAL_INDEX[n]] = v
    for n, v in L.host.items():
        t[TOTAL_INDEX[n]] = v
    t[TOTAL_INDEX["logit_max"]] = max([L.logit_max_host] + [float(m) for m in L.logit_max])
    return t


def gather_eval(ordered: Sequence[LayerInterval], group=None) -> List[np.ndarray]:
    """Every layer's evaluation counts [E] (int64), summed over the process group when one is
    initialised (a collective: every rank calls it). A layer with no evaluation forward on any
    rank gives an empty array."""
    torch = torch_module()
    dev = next((L.eval_counts.device for L in ordered if L.eval_counts is not None), torch.device("cpu"))
    seen = torch.tensor([0.0 if L.eval_counts is None else 1.0 for L in ordered], dtype=torch.float64, device=dev)
    packed = torch.cat([seen] + [L.eval_counts.to(dev, torch.float64) if L.eval_counts is not None
                                 else torch.zeros(L.E, dtype=torch.float64, device=dev) for L in ordered])
    if distributed(torch):
        if dev.type == "cpu" and torch.distributed.get_backend(group) == "nccl":
            packed = packed.cuda()
        torch.distributed.all_reduce(packed, group=group)
    host = packed.cpu().numpy()
    out, off = [], len(ordered)
    for i, L in enumerate(ordered):
        out.append(np.rint(host[off:off + L.E]).astype(np.int64) if host[i] > 0 else np.zeros(0, np.int64))
        off += L.E
    return out
