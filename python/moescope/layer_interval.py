"""layer_interval.py: one MoE layer's log interval, kept on the routing tensors' device.

A LayerInterval adds one forward of one layer at a time -- the real top-k ids [T, K], and when
given the router's probabilities or logits [T, E] and the kept slots -- into per-expert counts
and the routing library's per-forward totals (RoutingTotals, src/routing/interval.h), with no
host synchronisation: on a device the torch ops stay queued, on the CPU one C++ pass
(moescope._core.observe_forward) adds everything over zero-copy numpy views. The Watcher
(watcher.py) checks the arguments, calls these once per forward, ends steps and makes the
record (interval_reduce.py gathers the intervals into one host transfer).
"""
from __future__ import annotations

import math
from typing import Callable, List, Optional

from . import _core

TOTALS = _core.Session.totals_fields()  # RoutingTotals' fields, in the library's order
TOTALS_IS_MAX = _core.Session.totals_max()
TOTAL_INDEX = {name: i for i, name in enumerate(TOTALS)}
DEVICE_SUMS = ("dropped", "ent_sum", "top1_sum", "logit_sq")  # summed on the device; the rest on the host

_TORCH = None


def torch_module():
    """torch, imported on first use: the compiled module and the metric helpers need none."""
    global _TORCH
    if _TORCH is None:
        import torch

        _TORCH = torch
    return _TORCH


def in_backward() -> bool:
    """True inside the autograd engine (the recomputed forward of activation checkpointing)."""
    return torch_module()._C._current_graph_task_id() != -1


def _numpy(t, dtype):
    """A CPU tensor as a C-contiguous numpy array of `dtype` (a view when it already is one)."""
    if t.requires_grad:
        t = t.detach()
    if t.dtype != dtype:
        t = t.to(dtype)
    if not t.is_contiguous():
        t = t.contiguous()
    return t.numpy()


def _rows(t, T: int, E: int):
    """t as [T, E] (a reshape only when it is not already 2-D)."""
    return t if t.dim() == 2 else t.reshape(T, E)


class LayerInterval:
    """One MoE layer's interval: per-step counts in one buffer `buf` [cap, E] (int64, on the
    routing device; row i = the interval's step i, `step` a view of the running step's row, so
    ending a step moves an index and the record reads buf[:n_steps] without a copy), the
    explicitly kept slots [E], the device sums (DEVICE_SUMS, float64 [4]), the host totals (what
    shapes tell), co-activation [E, E], out-of-range ids seen on a device, the router bias over
    the interval, evaluation counts [E]."""

    def __init__(self, name: str, layer: int, n_experts: int, top_k: int):
        self.name, self.layer, self.E, self.K = name, layer, n_experts, top_k
        self.where = f"moescope: layer {layer} ({name})"  # how errors name this layer
        self.device = None
        self.buf = self.buf_np = self.sums_np = None
        self.eval_counts = None
        self.bias_source: Optional[Callable[[], object]] = None  # returns the bias tensor [E]
        self.sigmoid = False  # the router scores with a sigmoid (its probabilities are normalised per token)
        self.reset()

    @property
    def step(self):
        """The running step's counts [E] (a view of buf's row; None before the first forward)."""
        return None if self.buf is None else self.buf[self.n_steps]

    def reset(self):
        """A new interval: the buffers are zeroed in place (kept allocated)."""
        self.n_steps = 0  # steps ended in this interval
        if self.buf is not None:
            self.buf.zero_()
            self.sums.zero_()
            self.bad.zero_()
        else:
            self.sums = self.bad = self.zero = None
        self.kept_explicit = self.coact = None
        self.host = {"tokens": 0, "assign": 0, "forwards": 0, "prob_tokens": 0, "logit_n": 0}
        self.bias_sum = self.bias_lo = self.bias_hi = None
        self.bias_steps = 0
        self.logit_max: List[object] = []  # per forward, the max logit (a 0-d tensor); max taken at the record
        self.logit_max_host = -1e30  # the CPU fast path's max logit (a float)

    def alloc(self, device):
        """The buffers on `device` (allocated on the first forward; moved when the device changes)."""
        if self.device == device:
            return
        torch = torch_module()
        if self.buf is None:
            self.buf = torch.zeros(max(16, self.n_steps + 1), self.E, dtype=torch.int64, device=device)
            self.sums = torch.zeros(len(DEVICE_SUMS), dtype=torch.float64, device=device)
            self.bad = torch.zeros((), dtype=torch.int64, device=device)
        else:
            self.buf, self.sums, self.bad = self.buf.to(device), self.sums.to(device), self.bad.to(device)
            for a in ("kept_explicit", "coact"):
                if getattr(self, a) is not None:
                    setattr(self, a, getattr(self, a).to(device))
        self.device = device
        if device.type == "cpu":  # numpy views for the CPU fast path
            self.buf_np, self.sums_np = self.buf.numpy(), self.sums.numpy()
        # ent_sum is accumulated in nats and scaled to [0, 1] (1 / ln E) in the same add
        self.scale = torch.tensor([1.0, 1.0 / math.log(self.E) if self.E > 1 else 1.0, 1.0, 1.0],
                                  dtype=torch.float64, device=device)
        self.zero = torch.zeros((), dtype=torch.float64, device=device)

    def _count_host(self, T: int, prob_tokens: int = 0, logit_n: int = 0):
        host = self.host  # what the shapes tell: no device work
        host["tokens"] += T
        host["assign"] += T * self.K
        host["forwards"] += 1
        host["prob_tokens"] += prob_tokens
        host["logit_n"] += logit_n

    # ---- the torch path (any device) --------------------------------------------------------
    def observe_torch(self, ids, probs, logits, kept, T: int, where: str, coact: bool, ids_checked: bool):
        """ids [T, K] (checked in range when ids_checked, else counted on the device and reported
        at the record), probs/logits [T, E] or None, kept: [E] counts or a [T, K] mask or None."""
        torch = torch_module()
        dev = ids.device
        self.alloc(dev)
        flat = ids.reshape(-1).long()
        if ids_checked:
            valid = None
            c = torch.bincount(flat, minlength=self.E)
        else:  # no host sync: out-of-range ids are counted on the device and reported at the record
            valid = (flat >= 0) & (flat < self.E)
            self.bad += (~valid).sum()
            flat = torch.where(valid, flat, torch.zeros_like(flat))
            c = torch.zeros(self.E, dtype=torch.int64, device=dev).scatter_add_(0, flat, valid.long())
        self.buf[self.n_steps].add_(c)  # the interval's counts are the sum of its steps' (at the record)
        dropped = None
        if kept is not None:
            if not isinstance(kept, torch.Tensor):
                raise TypeError(f"{where}: kept must be a torch.Tensor")
            if kept.dtype == torch.bool:
                if kept.numel() != T * self.K:
                    raise ValueError(f"{where}: a kept mask must be [tokens, top_k] like topk_ids, got {tuple(kept.shape)}")
                km = kept.reshape(-1) if valid is None else kept.reshape(-1) & valid
                kc = torch.zeros(self.E, dtype=torch.int64, device=dev).scatter_add_(0, flat, km.long())
            else:
                if kept.numel() != self.E:
                    raise ValueError(f"{where}: kept must be [n_experts = {self.E}] counts or a [tokens, top_k] mask, "
                                     f"got shape {tuple(kept.shape)}")
                kc = kept.detach().reshape(-1).to(device=dev, dtype=torch.int64)
            if self.kept_explicit is None:
                self.kept_explicit = torch.zeros(self.E, dtype=torch.int64, device=dev)
            self.kept_explicit += kc - c  # kept = counts + this (0 where nothing was dropped)
            dropped = (c.sum() - kc.sum()).to(torch.float64)
        parts = [dropped if dropped is not None else self.zero]
        # Element-wise in float32 (the routers' own precision), sums accumulated in float64; as
        # few torch ops as possible (each costs a dispatch on the CPU): the entropy in nats is
        # scaled by 1 / ln E in the accumulating add (self.scale).
        f64 = torch.float64
        E = self.E
        lg = logits.detach().reshape(T, E).float() if logits is not None else None
        prob_tokens = logit_n = 0
        if probs is None and lg is not None and not self.sigmoid:
            # the softmax by hand (torch.softmax over 8 experts cost 0.11 ms on this CPU against
            # 0.05 ms for these ops): e = exp(lg - max), z = sum e; p = e / z, top-1 p = 1 / z
            e = (lg - lg.amax(-1, keepdim=True)).exp_()
            z = e.sum(-1, keepdim=True)
            parts += [torch.special.entr(e.div_(z)).sum(dtype=f64), z.reciprocal_().sum(dtype=f64)]
            prob_tokens = T
        elif probs is not None or lg is not None:
            p = lg.sigmoid() if probs is None else probs.detach().reshape(T, E).float()
            # sigmoid scores are normalised per token first, as the C++ path does (docs/metrics.md)
            q = p / p.sum(-1, keepdim=True).clamp_min(1e-30) if self.sigmoid else p
            parts += [torch.special.entr(q).sum(dtype=f64), p.amax(-1).sum(dtype=f64)]
            prob_tokens = T
        else:
            parts += [self.zero, self.zero]
        if lg is not None:
            parts.append(lg.square().sum(dtype=f64))
            logit_n = lg.numel()
            self.logit_max.append(lg.max())
        else:
            parts.append(self.zero)
        self.sums.addcmul_(torch.stack(parts), self.scale)  # dropped, ent_sum, top1_sum, logit_sq
        self._count_host(T, prob_tokens, logit_n)
        if coact:
            oh = torch.zeros(T, E, dtype=torch.float32, device=dev).scatter_(1, ids.long().clamp(0, E - 1), 1.0)
            cc = (oh.t() @ oh).round().long()
            self.coact = cc if self.coact is None else self.coact + cc

    # ---- the CPU fast path ----------------------------------------------------------------
    def observe_cpu(self, ids, probs, logits, T: int, where: str, coact: bool):
        """Every per-forward total of the torch path in one C++ pass (counts, router entropy,
        top-1, logit sum of squares and max, co-activation when sampled), added into this
        layer's CPU tensors in place; the tensors go zero-copy (numpy views; other dtypes are
        converted once). A bad id raises (naming `where`) before anything is added."""
        torch = torch_module()
        if self.device is None or self.device.type != "cpu":
            self.alloc(ids.device)
        co = None
        if coact:
            if self.coact is None:
                self.coact = torch.zeros(self.E, self.E, dtype=torch.int64)
            co = self.coact.numpy()
        mx, prob_tokens, logit_n = _core.observe_forward(
            _numpy(ids, torch.int64), None if probs is None else _numpy(_rows(probs, T, self.E), torch.float32),
            None if logits is None else _numpy(_rows(logits, T, self.E), torch.float32),
            self.sigmoid, self.buf_np[self.n_steps], self.sums_np, co, where)
        self._count_host(T, prob_tokens, logit_n)
        if logit_n:
            self.logit_max_host = max(self.logit_max_host, mx)

    # ---- evaluation and step ends -------------------------------------------------------------
    def observe_eval(self, ids):
        """An evaluation forward's ids [T, K] (already checked on the CPU; clamped on a device)."""
        torch = torch_module()
        flat = ids.reshape(-1).long().clamp(0, self.E - 1)
        c = torch.zeros(self.E, dtype=torch.int64, device=ids.device).scatter_add_(0, flat, torch.ones_like(flat))
        self.eval_counts = c if self.eval_counts is None else self.eval_counts.to(c.device) + c

    def end_step(self):
        """An optimizer step ended: the next row of `buf` takes the next step's counts (the buffer
        doubles when full); the bias is sampled."""
        self.n_steps += 1
        if self.buf is not None and self.n_steps >= self.buf.shape[0]:
            torch = torch_module()
            self.buf = torch.cat([self.buf, torch.zeros_like(self.buf)])
            if self.device.type == "cpu":
                self.buf_np = self.buf.numpy()
        if self.bias_source is not None:
            torch = torch_module()
            b = self.bias_source().detach().to(torch.float64)
            if self.bias_sum is None:
                self.bias_sum, self.bias_lo, self.bias_hi = b.clone(), b.clone(), b.clone()
            else:
                self.bias_sum += b
                self.bias_lo = torch.minimum(self.bias_lo, b)
                self.bias_hi = torch.maximum(self.bias_hi, b)
            self.bias_steps += 1

    def bias_arrays(self):
        """(mean, min, max) of the bias over the interval's steps as numpy arrays, or Nones."""
        if self.bias_steps:
            return ((self.bias_sum / self.bias_steps).cpu().numpy(), self.bias_lo.cpu().numpy(),
                    self.bias_hi.cpu().numpy())
        if self.bias_source is not None:
            b = self.bias_source().detach().double().cpu().numpy()
            return b, b, b
        return None, None, None
