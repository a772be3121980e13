"""watcher.py: the routing-health microscope inside any PyTorch training run.

A Watcher keeps, per MoE layer, the log interval's routing counts *on the tensors' device*
(no host synchronisation per step) and, once per log interval, makes one host transfer (under
torch.distributed: one all-reduce of the packed interval first, so the record is the global
batch's, as in moescope's own multi-rank path). The arrays then go through moescope's routing
library (src/routing/, the compiled moescope._core), which computes every metric of
docs/metrics.md, the collapse detector and the ladder's decisions, and writes alerts.jsonl and
TensorBoard events; the watcher writes the train records into metrics.jsonl. Rank 0 writes.
The run directory is the one moescope's trainer writes: `moescope dashboard`, `scope --run` and
`report` read it unchanged.

What is counted, per layer and forward: the real top-k ids the model used (never recomputed),
the router's probabilities and logits when given (router entropy, top-1 score, logit RMS/max),
and the kept slots when a capacity drops some. A forward recomputed under activation
checkpointing (it runs inside the autograd engine's backward) is not counted again; a forward
while the model is in eval mode goes to the evaluation counts instead (see log_eval).
"""
from __future__ import annotations

import json
import math
import os
import time
from typing import Callable, Dict, List, Optional, Sequence

import numpy as np

from . import _core

TOTALS = _core.Session.totals_fields()  # RoutingTotals' fields, in the library's order
TOTALS_IS_MAX = _core.Session.totals_max()
_T = {name: i for i, name in enumerate(TOTALS)}
_DEVICE_SUMS = ("dropped", "ent_sum", "top1_sum", "logit_sq")  # summed on the device; the rest on the host
WATCH_VERSION = 1


_TORCH = None


def _torch():
    global _TORCH
    if _TORCH is None:
        import torch  # imported lazily: the compiled module and the metric helpers need no torch

        _TORCH = torch
    return _TORCH


def in_backward() -> bool:
    """True inside the autograd engine (the recomputed forward of activation checkpointing)."""
    torch = _torch()
    return torch._C._current_graph_task_id() != -1


class _Layer:
    """One MoE layer's interval on the device: counts [E], kept [E], this step's counts [E], the
    ended steps' counts, the totals (float64 [n_totals]), co-activation [E, E], bias samples."""

    def __init__(self, name: str, layer: int, n_experts: int, top_k: int):
        self.name, self.layer, self.E, self.K = name, layer, n_experts, top_k
        self.device = None
        self.eval_counts = None
        self.bias_source: Optional[Callable[[], object]] = None  # returns the bias tensor [E]
        self.sigmoid = False  # the router scores with a sigmoid (its probabilities are normalised per token)
        self.reset()

    def reset(self):
        self.kept_explicit = self.step = self.sums = self.coact = self.bad = self.zero = None
        self.host = {"tokens": 0, "assign": 0, "forwards": 0, "prob_tokens": 0, "logit_n": 0}
        self.steps: List[object] = []
        self.bias_sum = self.bias_lo = self.bias_hi = None
        self.bias_steps = 0
        self.logit_max: List[object] = []  # per forward, the max logit (a 0-d tensor); max taken at the record
        self.logit_max_host = -1e30  # the CPU fast path's max logit (a float)

    def _alloc(self, device):
        torch = _torch()
        if self.step is None or self.device != device:
            self.device = device
            self.step = torch.zeros(self.E, dtype=torch.int64, device=device)
            self.sums = torch.zeros(len(_DEVICE_SUMS), dtype=torch.float64, device=device)
            # ent_sum is accumulated in nats and scaled to [0, 1] (1 / ln E) in the same add
            self.scale = torch.tensor([1.0, 1.0 / math.log(self.E) if self.E > 1 else 1.0, 1.0, 1.0],
                                      dtype=torch.float64, device=device)
            self.zero = torch.zeros((), dtype=torch.float64, device=device)
            self.bad = torch.zeros((), dtype=torch.int64, device=device)


class Watcher:
    """Routing health of a training run, written to `logdir` (a moescope run directory).

    log_every: optimizer steps per record; scope: overrides of moescope's scope.* settings
    (e.g. {"window": 3, "entropy_floor": 0.5}: docs/metrics.md); on_alert(alert_dict): called on
    rank 0 for every alert the detector fires; balance_bias: update routers that carry an
    e_score_correction_bias with moescope's loss-free rule (opt-in; see balance.py);
    remediate: let the ladder raise that bias rate (its bias_rate rung; logged)."""

    current = None  # the watcher created last (moescope.observe / moescope.step use it)

    def __init__(self, logdir: str, log_every: int = 10, scope: Optional[dict] = None,
                 on_alert: Optional[Callable[[dict], None]] = None, model_class: str = "",
                 framework: str = "pytorch", coact_every: Optional[int] = None,
                 process_group=None):
        if int(log_every) < 1:
            raise ValueError(f"moescope: log_every must be >= 1 (got {log_every})")
        self.logdir = str(logdir)
        self.log_every = int(log_every)
        self.scope = dict(scope or {})
        if coact_every is not None:
            self.scope["coact_every"] = int(coact_every)
        _core.Session([], "", False, self.scope)  # checks the settings now (unknown keys, ranges)
        self.coact_every = int(self.scope.get("coact_every", 10))
        self.on_alert = on_alert
        self.model_class, self.framework = model_class, framework
        self.group = process_group
        self.layers: Dict[object, _Layer] = {}
        self.session = None
        self.step_no = 0
        self.interval = 0
        self.records: List[dict] = []   # what rank 0 wrote (tests, callbacks)
        self.alerts: List[dict] = []
        self.last_record: Optional[dict] = None
        self.balancers = []             # balance.BiasBalancer objects (opt-in acting)
        self._t0 = time.time()
        self.cpu_fast_path = True  # CPU tensors: observe's one-pass C++ totals (False: the torch ops)
        Watcher.current = self

    # ---- registration -------------------------------------------------------------------
    def add_layer(self, key, layer: int, n_experts: int, top_k: int, name: str = ""):
        if self.session is not None:
            raise RuntimeError("moescope: layers must be added before the first record")
        if not (1 <= int(top_k) <= int(n_experts)):
            raise ValueError(f"moescope: layer {layer}: top_k {top_k} must be in [1, n_experts = {n_experts}]")
        self.layers[key] = _Layer(name or str(key), int(layer), int(n_experts), int(top_k))
        return self.layers[key]

    def _rank(self) -> int:
        torch = _torch()
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank(self.group)
        return 0

    def _open(self):
        if self.session is not None:
            return
        ordered = sorted(self.layers.values(), key=lambda l: l.layer)
        self._order = ordered
        writer = self._rank() == 0
        if writer:
            os.makedirs(self.logdir, exist_ok=True)
            with open(os.path.join(self.logdir, "watch.json"), "w") as f:
                json.dump(self.snapshot(), f, indent=1)
        self.session = _core.Session([(l.layer, l.E, l.K) for l in ordered], self.logdir, writer, self.scope)
        self.writer = writer

    def snapshot(self) -> dict:
        """The config snapshot (RUN_DIR/watch.json): framework, model class, layers, settings."""
        torch = _torch()
        return {"moescope_watch_version": WATCH_VERSION, "framework": self.framework, "model_class": self.model_class,
                "torch_version": torch.__version__, "log_every": self.log_every, "scope": self.scope,
                "layers": [{"layer": l.layer, "name": l.name, "experts": l.E, "top_k": l.K}
                           for l in sorted(self.layers.values(), key=lambda l: l.layer)]}

    # ---- per forward ----------------------------------------------------------------------
    def observe(self, layer, topk_ids, probs=None, kept=None, logits=None, training: Optional[bool] = None,
                _checked_backward: bool = False):
        """One forward of one MoE layer: topk_ids [..., K] the chosen experts (integers),
        probs [..., E] the router's probabilities (optional), kept [E] computed slots per expert or
        a [..., K] boolean mask of the kept slots (optional; default all kept), logits [..., E]
        the router logits (optional). `layer` is a key given to add_layer, or an int transformer
        layer index (registered on first use with E from probs or logits)."""
        torch = _torch()
        if not _checked_backward and in_backward():
            return  # the recomputed forward of activation checkpointing: already counted
        if training is None:
            training = torch.is_grad_enabled()
        L = self._layer_for(layer, topk_ids, probs, logits)
        where = f"moescope: layer {L.layer} ({L.name})"
        if not isinstance(topk_ids, torch.Tensor):
            raise TypeError(f"{where}: topk_ids must be a torch.Tensor, got {type(topk_ids).__name__}")
        if topk_ids.is_floating_point() or topk_ids.is_complex() or topk_ids.dtype == torch.bool:
            raise TypeError(f"{where}: topk_ids must hold integer expert ids, got {topk_ids.dtype}")
        if topk_ids.dim() < 1 or topk_ids.shape[-1] != L.K:
            raise ValueError(f"{where}: topk_ids must be [..., top_k = {L.K}], got shape {tuple(topk_ids.shape)}")
        ids = topk_ids.detach().reshape(-1, L.K)
        T = ids.shape[0]
        dev = ids.device
        for nm, t in (("probs", probs), ("logits", logits)):
            if t is not None:
                if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                    raise TypeError(f"{where}: {nm} must be a floating-point torch.Tensor")
                if t.shape[-1] != L.E or t.numel() != T * L.E:
                    raise ValueError(f"{where}: {nm} must be [tokens = {T}, n_experts = {L.E}], got shape {tuple(t.shape)}")
        fast = (self.cpu_fast_path and training and kept is None and dev.type == "cpu"
                and all(t is None or t.device.type == "cpu" for t in (probs, logits)))
        if dev.type == "cpu" and T > 0 and not fast:  # free to check at once on the CPU; on a device, at the record
            lo, hi = (int(v) for v in torch.aminmax(ids))
            if lo < 0 or hi >= L.E:
                raise ValueError(f"{where}: expert id {hi if hi >= L.E else lo} is not in [0, {L.E}) (n_experts = {L.E})")
        if not training:
            self._observe_eval(L, ids)
            return
        L._alloc(dev)
        if fast:
            self._observe_cpu(L, ids, probs, logits, T, where)
            return
        flat = ids.reshape(-1).long()
        if dev.type == "cpu":  # ids checked above: count them at once
            valid = None
            c = torch.bincount(flat, minlength=L.E)
        else:  # no host sync: out-of-range ids are counted on the device and reported at the record
            valid = (flat >= 0) & (flat < L.E)
            L.bad += (~valid).sum()
            flat = torch.where(valid, flat, torch.zeros_like(flat))
            c = torch.zeros(L.E, dtype=torch.int64, device=dev).scatter_add_(0, flat, valid.long())
        L.step += c  # the interval's counts are the sum of its steps' (at the record)
        dropped = None
        if kept is not None:
            if not isinstance(kept, torch.Tensor):
                raise TypeError(f"{where}: kept must be a torch.Tensor")
            if kept.dtype == torch.bool:
                if kept.numel() != T * L.K:
                    raise ValueError(f"{where}: a kept mask must be [tokens, top_k] like topk_ids, got {tuple(kept.shape)}")
                km = kept.reshape(-1) if valid is None else kept.reshape(-1) & valid
                kc = torch.zeros(L.E, dtype=torch.int64, device=dev).scatter_add_(0, flat, km.long())
            else:
                if kept.numel() != L.E:
                    raise ValueError(f"{where}: kept must be [n_experts = {L.E}] counts or a [tokens, top_k] mask, "
                                     f"got shape {tuple(kept.shape)}")
                kc = kept.detach().reshape(-1).to(device=dev, dtype=torch.int64)
            if L.kept_explicit is None:
                L.kept_explicit = torch.zeros(L.E, dtype=torch.int64, device=dev)
            L.kept_explicit += kc - c  # kept = counts + this (0 where nothing was dropped)
            dropped = (c.sum() - kc.sum()).to(torch.float64)
        host = L.host  # what the shapes tell: no device work
        host["tokens"] += T
        host["assign"] += T * L.K
        host["forwards"] += 1
        parts = [dropped if dropped is not None else L.zero]
        # Element-wise in float32 (the routers' own precision), sums accumulated in float64; as
        # few torch ops as possible (each costs a dispatch on the CPU): the entropy in nats is
        # scaled by 1 / ln E in the accumulating add (L.scale).
        f64 = torch.float64
        p = probs
        lg = logits.detach().reshape(T, L.E).float() if logits is not None else None
        if p is None and lg is not None and not L.sigmoid:
            # the softmax by hand (torch.softmax over 8 experts cost 0.11 ms on this CPU against
            # 0.05 ms for these ops): e = exp(lg - max), z = sum e; p = e / z, top-1 p = 1 / z
            e = (lg - lg.amax(-1, keepdim=True)).exp_()
            z = e.sum(-1, keepdim=True)
            parts += [torch.special.entr(e.div_(z)).sum(dtype=f64), z.reciprocal_().sum(dtype=f64)]
            host["prob_tokens"] += T
        elif p is not None or lg is not None:
            p = lg.sigmoid() if p is None else p.detach().reshape(T, L.E).float()
            # sigmoid scores are normalised per token first, as the C++ path does (docs/metrics.md)
            q = p / p.sum(-1, keepdim=True).clamp_min(1e-30) if L.sigmoid else p
            parts += [torch.special.entr(q).sum(dtype=f64), p.amax(-1).sum(dtype=f64)]
            host["prob_tokens"] += T
        else:
            parts += [L.zero, L.zero]
        if lg is not None:
            parts.append(lg.square().sum(dtype=f64))
            host["logit_n"] += lg.numel()
            L.logit_max.append(lg.max())
        else:
            parts.append(L.zero)
        L.sums.addcmul_(torch.stack(parts), L.scale)  # dropped, ent_sum, top1_sum, logit_sq
        if self.interval % self.coact_every == 0:
            oh = torch.zeros(T, L.E, dtype=torch.float32, device=dev).scatter_(1, ids.long().clamp(0, L.E - 1), 1.0)
            cc = (oh.t() @ oh).round().long()
            L.coact = cc if L.coact is None else L.coact + cc

    def _observe_cpu(self, L, ids, probs, logits, T, where):
        """The CPU fast path of observe: the tensors go zero-copy (numpy views; other dtypes are
        converted once) to the routing library, which adds every per-forward total of the torch
        path in one C++ pass (counts, router entropy, top-1, logit sum of squares and max,
        co-activation when sampled) into the layer's CPU tensors in place."""
        torch = _torch()

        def view(t, dtype, shape):
            t = t.detach().reshape(shape)
            if t.dtype != dtype:
                t = t.to(dtype)
            return t.contiguous().numpy()

        coact = None
        if self.interval % self.coact_every == 0:
            if L.coact is None:
                L.coact = torch.zeros(L.E, L.E, dtype=torch.int64)
            coact = L.coact.numpy()
        mx, prob_tokens, logit_n = _core.observe_forward(
            view(ids, torch.int64, (T, L.K)),
            view(probs, torch.float32, (T, L.E)) if probs is not None else None,
            view(logits, torch.float32, (T, L.E)) if logits is not None else None,
            bool(L.sigmoid), L.step.numpy(), L.sums.numpy(), coact, where)
        host = L.host
        host["tokens"] += T
        host["assign"] += T * L.K
        host["forwards"] += 1
        host["prob_tokens"] += prob_tokens
        host["logit_n"] += logit_n
        if logit_n:
            L.logit_max_host = max(L.logit_max_host, mx)

    def _observe_eval(self, L, ids):
        torch = _torch()
        flat = ids.reshape(-1).long().clamp(0, L.E - 1)
        c = torch.zeros(L.E, dtype=torch.int64, device=ids.device).scatter_add_(0, flat, torch.ones_like(flat))
        L.eval_counts = c if L.eval_counts is None else L.eval_counts.to(c.device) + c

    def _layer_for(self, layer, topk_ids, probs, logits):
        if layer in self.layers:
            return self.layers[layer]
        if isinstance(layer, int):
            src = probs if probs is not None else logits
            if src is None:
                raise ValueError(f"moescope: layer {layer} is not registered: give probs or logits (for n_experts) "
                                 "or call add_layer first")
            return self.add_layer(layer, layer, int(src.shape[-1]), int(topk_ids.shape[-1]))
        raise KeyError(f"moescope: unknown layer {layer!r} (registered: {list(self.layers)})")

    def add_forward_loss(self, loss, summed: bool = False):
        """A micro-batch's loss (a tensor, kept on its device until the record); summed: the
        step's loss is the sum of its micro-batches' (else their mean)."""
        d = loss.detach().reshape(()).double()
        self._fw_loss = d if self._fw_loss is None else self._fw_loss + d
        self._fw_n += 1
        self._fw_summed = summed

    _fw_loss = None
    _fw_n = 0
    _fw_summed = False

    # ---- per optimizer step -------------------------------------------------------------
    def step(self, loss=None, lr=None, step: Optional[int] = None) -> Optional[dict]:
        """The end of an optimizer step (after the step and any bias update). Writes a record every
        log_every steps and returns it (rank 0; None otherwise)."""
        torch = _torch()
        self.step_no = self.step_no + 1 if step is None else int(step)
        for bal in self.balancers:
            bal.update()
        for L in self.layers.values():
            if L.step is not None:  # the interval's counts are summed from its steps at the record
                L.steps.append(L.step)
                L.step = torch.zeros_like(L.step)
            else:
                L.steps.append(None)
            if L.bias_source is not None:
                b = L.bias_source().detach().to(torch.float64)
                if L.bias_sum is None:
                    L.bias_sum, L.bias_lo, L.bias_hi = b.clone(), b.clone(), b.clone()
                else:
                    L.bias_sum += b
                    L.bias_lo = torch.minimum(L.bias_lo, b)
                    L.bias_hi = torch.maximum(L.bias_hi, b)
                L.bias_steps += 1
        if self._loss_sum is None:
            self._loss_sum, self._loss_n = 0.0, 0
        if loss is None and self._fw_n:  # the model's own loss (watch's hook on its output)
            loss = self._fw_loss if self._fw_summed else self._fw_loss / self._fw_n
        self._fw_loss, self._fw_n = None, 0
        if loss is not None:
            self._loss_sum = self._loss_sum + (loss.detach() if isinstance(loss, torch.Tensor) else float(loss))
            self._loss_n += 1
        self._lr = lr
        if self.step_no % self.log_every == 0:
            return self.flush()
        return None

    _loss_sum = None
    _loss_n = 0
    _lr = None

    def flush(self, extra: Optional[dict] = None) -> Optional[dict]:
        """Writes the interval's record now (normally called by step())."""
        torch = _torch()
        if not self.layers:
            raise RuntimeError("moescope: no MoE layer was observed (nothing to record)")
        self._open()
        ordered = self._order
        # One packed float64 vector per process: every count and sum of every layer.
        parts, shapes = [], []
        dev = next((l.device for l in ordered if l.device is not None), torch.device("cpu"))
        for L in ordered:
            S = len(L.steps)
            z = lambda *s: torch.zeros(*s, dtype=torch.float64, device=dev)
            # (a forward after the last step's end counts in the interval, not in a step)
            steps = torch.stack([s.to(dev, torch.float64) if s is not None else z(L.E) for s in L.steps]) if S else z(0, L.E)
            counts = steps.sum(0) + L.step.to(dev, torch.float64) if L.step is not None else z(L.E)
            kept = counts + L.kept_explicit.to(dev, torch.float64) if L.kept_explicit is not None else counts
            totals = z(len(TOTALS))
            if L.sums is not None:
                totals[[_T[n] for n in _DEVICE_SUMS]] = L.sums.to(dev)
            totals[[_T[n] for n in L.host]] = torch.tensor(list(L.host.values()), dtype=torch.float64, device=dev)
            coact = L.coact.to(dev, torch.float64) if L.coact is not None else z(L.E, L.E)
            bad = L.bad.to(dev, torch.float64).reshape(1) if L.bad is not None else z(1)
            for t in (counts, kept, steps, totals, coact, bad):
                parts.append(t.reshape(-1))
                shapes.append(tuple(t.shape))
        packed = torch.cat(parts)
        for L in ordered:  # the CPU fast path's max logit (a float32 value: exact) joins the device path's
            if L.logit_max_host > -1e30:
                d = L.logit_max[0].device if L.logit_max else torch.device("cpu")
                L.logit_max.append(torch.tensor(L.logit_max_host, dtype=torch.float32, device=d))
        maxes = torch.stack([torch.stack(L.logit_max).max().to(dev, torch.float64) if L.logit_max
                             else torch.tensor(-1e30, dtype=torch.float64, device=dev) for L in ordered])
        if torch.distributed.is_available() and torch.distributed.is_initialized():
            torch.distributed.all_reduce(packed, group=self.group)                       # the interval's counts
            torch.distributed.all_reduce(maxes, op=torch.distributed.ReduceOp.MAX, group=self.group)
        host = packed.cpu().numpy()  # the one host transfer of the interval
        host_max = maxes.cpu().numpy()
        it = iter(shapes)
        off = 0
        arrays = []
        for _ in ordered:
            row = []
            for _k in range(6):
                shp = next(it)
                n = int(np.prod(shp)) if len(shp) else 1
                row.append(host[off:off + n].reshape(shp))
                off += n
            arrays.append(row)
        for L, (counts, kept, steps, totals, coact, bad) in zip(ordered, arrays):
            if bad[0] > 0:
                raise ValueError(f"moescope: layer {L.layer} ({L.name}): {int(bad[0])} expert ids were not in "
                                 f"[0, {L.E}) in this interval (n_experts = {L.E})")
        rec = None
        coact_now = self.interval % self.coact_every == 0
        if self.writer:
            ci = [np.rint(a[0]).astype(np.int64) for a in arrays]
            ki = [np.rint(a[1]).astype(np.int64) for a in arrays]
            si = [np.rint(a[2]).astype(np.int64).reshape(-1, L.E) for a, L in zip(arrays, ordered)]
            ti = []
            for a, mx in zip(arrays, host_max):
                t = a[3].copy()
                t[_T["logit_max"]] = mx
                ti.append(t)
            co = [np.rint(a[4]).astype(np.int64) if coact_now else None for a in arrays]
            bias, lo, hi = [], [], []
            for L in ordered:
                if L.bias_steps:
                    bias.append((L.bias_sum / L.bias_steps).cpu().numpy())
                    lo.append(L.bias_lo.cpu().numpy())
                    hi.append(L.bias_hi.cpu().numpy())
                elif L.bias_source is not None:
                    b = L.bias_source().detach().double().cpu().numpy()
                    bias.append(b), lo.append(b), hi.append(b)
                else:
                    bias.append(None), lo.append(None), hi.append(None)
            moe_json, alerts_json = self.session.log(self.step_no, ci, ki, si, ti, co, bias, lo, hi)
            rec = {_core.FIELD_SCHEMA: 1, _core.FIELD_TYPE: _core.TYPE_TRAIN, _core.FIELD_STEP: self.step_no}
            if self._loss_n:
                ls = self._loss_sum
                rec["loss"] = float(ls) / self._loss_n
            if self._lr is not None:
                rec["lr"] = float(self._lr)
            elapsed = time.time() - self._t0
            rec["elapsed_s"] = elapsed
            rec.update(json.loads(moe_json))
            if extra:
                rec.update(extra)
            for ev in self._ladder():
                self._write(ev)
            self._write(rec)
            self.records.append(rec)
            self.last_record = rec
            for al in json.loads(alerts_json):
                self.alerts.append(al)
                if self.on_alert is not None:
                    self.on_alert(al)
        for L in ordered:
            L.reset()
        self._loss_sum, self._loss_n = None, 0
        self.interval += 1
        return rec

    def _ladder(self) -> List[dict]:
        """The ladder's bias-rate rung for balanced routers (remediate=True on a BiasBalancer)."""
        events = []
        for bal in self.balancers:
            if not bal.remediate:
                continue
            for i, L in enumerate(self._order):
                if L in bal.layers:
                    ev = self.session.ladder_bias_rate(self.step_no, i, bal.rate)
                    if ev is not None:
                        e = json.loads(ev)
                        bal.rate = e[_core.FIELD_TO]
                        events.append(e)
        return events

    def _write(self, rec: dict):
        with open(_core.metrics_path(self.logdir), "a") as f:
            f.write(json.dumps(rec) + "\n")

    # ---- evaluation -----------------------------------------------------------------------
    def log_eval(self, step: Optional[int] = None, val_loss: Optional[float] = None) -> Optional[dict]:
        """Writes an eval record (per layer MaxVio_global over the evaluation's tokens, counted
        from forwards in eval mode since the last log_eval); rank 0 only, no reduction (each
        rank is expected to evaluate the whole set, as moescope's trainer does)."""
        self._open()
        if not self.writer:
            for L in self._order:
                L.eval_counts = None
            return None
        counts = [L.eval_counts.cpu().numpy().astype(np.int64) if L.eval_counts is not None else np.zeros(0, np.int64)
                  for L in self._order]
        rec = {_core.FIELD_SCHEMA: 1, _core.FIELD_TYPE: _core.TYPE_EVAL,
               _core.FIELD_STEP: self.step_no if step is None else int(step)}
        if val_loss is not None:
            rec["val_loss"] = float(val_loss)
        rec.update(json.loads(self.session.log_eval(rec[_core.FIELD_STEP], counts)))
        self._write(rec)
        self.records.append(rec)
        for L in self._order:
            L.eval_counts = None
        return rec

    def status(self, layer: int) -> str:
        return self.session.status(layer) if self.session is not None else "ok"

    def headline(self) -> dict:
        """The headline metrics of the last record (for a trainer's own logs)."""
        r = self.last_record
        c = _core
        if not r or not r.get(c.FIELD_MOE):
            return {}
        moe = r[c.FIELD_MOE]
        return {"moe/entropy_norm_min": min(l[c.FIELD_ENTROPY_NORM] for l in moe),
                "moe/n_eff_min": min(l[c.FIELD_N_EFF] for l in moe),
                "moe/maxvio_batch_max": r[c.FIELD_MOE_SUMMARY][c.FIELD_MAXVIO_BATCH_MAX],
                "moe/collapsed_layers": sum(l[c.FIELD_STATUS] == "collapsed" for l in moe),
                "moe/dropping_layers": sum(l[c.FIELD_STATUS] == "dropping" for l in moe)}
