"""watcher.py: the routing-health microscope inside any PyTorch training run.

A Watcher keeps, per MoE layer, the log interval's routing counts *on the tensors' device*
(no host synchronisation per step) and, once per log interval, makes one host transfer (under
torch.distributed: one all-reduce of the packed interval first, so the record is the global
batch's, as in moescope's own multi-rank path). The arrays then go through moescope's routing
library (src/routing/, the compiled moescope._core), which computes every metric of
docs/metrics.md, the collapse detector and the ladder's decisions, and writes alerts.jsonl and
TensorBoard events; the watcher writes the train records into metrics.jsonl. Rank 0 writes.
The run directory is the one moescope's trainer writes: `moescope dashboard`, `scope --run` and
`report` read it unchanged. Per-layer device state and the per-forward accumulation:
layer_interval.py; the interval's reduction and host transfer: interval_reduce.py.

What is counted, per layer and forward: the real top-k ids the model used (never recomputed),
the router's probabilities and logits when given (router entropy, top-1 score, logit RMS/max),
and the kept slots when a capacity drops some. A forward recomputed under activation
checkpointing (it runs inside the autograd engine's backward) is not counted again; a forward
while the model is in eval mode goes to the evaluation counts instead (see log_eval).
"""
from __future__ import annotations

import json
import os
import time
from typing import Callable, Dict, List, Optional


from . import _core
from .interval_reduce import gather_eval, gather_interval
from .layer_interval import LayerInterval, in_backward, torch_module as _torch

WATCH_VERSION = 1
_ID_DTYPES = None  # the integer dtypes (set on first use: torch is imported lazily)
__all__ = ["Watcher", "in_backward", "WATCH_VERSION"]


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
        self.layers: Dict[object, LayerInterval] = {}
        self.session = None
        self.step_no = 0
        self.interval = 0
        self.records: List[dict] = []   # what rank 0 wrote (tests, callbacks)
        self.alerts: List[dict] = []
        self.last_record: Optional[dict] = None
        self.balancers = []             # balance.BiasBalancer objects (opt-in acting)
        self._t0 = time.time()
        self._fw_losses: List[object] = []  # this step's micro-batch losses (watch's hook on the output)
        self._fw_summed = False
        self._losses: List[tuple] = []  # the interval's (loss, weight): its mean is sum(w * loss) / steps
        self._loss_steps = 0
        self._lr = None
        self.cpu_fast_path = True  # CPU tensors: observe's one-pass C++ totals (False: the torch ops)
        Watcher.current = self

    # ---- registration -------------------------------------------------------------------
    def add_layer(self, key, layer: int, n_experts: int, top_k: int, name: str = "", bias=None,
                  sigmoid: bool = False) -> LayerInterval:
        """Registers an MoE layer under `key` (what observe() is given): its transformer layer
        index, expert count and top-k. bias: the router's balancing bias [E] (a tensor, or a
        callable returning it), sampled at every step's end and logged with the record;
        sigmoid: the router scores with a sigmoid (its scores are normalised per token for the
        router entropy, docs/metrics.md)."""
        if self.session is not None:
            raise RuntimeError("moescope: layers must be added before the first record")
        global _ID_DTYPES
        if _ID_DTYPES is None:
            torch = _torch()
            _ID_DTYPES = {getattr(torch, n) for n in ("int64", "int32", "int16", "int8", "uint8", "uint16", "uint32",
                                                      "uint64") if hasattr(torch, n)}
        if not (1 <= int(top_k) <= int(n_experts)):
            raise ValueError(f"moescope: layer {layer}: top_k {top_k} must be in [1, n_experts = {n_experts}]")
        L = LayerInterval(name or str(key), int(layer), int(n_experts), int(top_k))
        if bias is not None:
            if not callable(bias) and tuple(getattr(bias, "shape", ())) != (int(n_experts),):
                raise ValueError(f"moescope: layer {layer}: bias must be a [n_experts = {n_experts}] tensor or a "
                                 f"callable returning one, got {type(bias).__name__}")
            L.bias_source = bias if callable(bias) else (lambda b=bias: b)
        L.sigmoid = bool(sigmoid)
        self.layers[key] = L
        return L

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
        self._metrics_path = _core.metrics_path(self.logdir)
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
        L = self.layers.get(layer) if layer.__hash__ is not None else None
        if L is None:
            L = self._layer_for(layer, topk_ids, probs, logits)
        where = L.where
        if not isinstance(topk_ids, torch.Tensor):
            raise TypeError(f"{where}: topk_ids must be a torch.Tensor, got {type(topk_ids).__name__}")
        if topk_ids.dtype not in _ID_DTYPES:
            raise TypeError(f"{where}: topk_ids must hold integer expert ids, got {topk_ids.dtype}")
        shape = topk_ids.shape
        if not shape or shape[-1] != L.K:
            raise ValueError(f"{where}: topk_ids must be [..., top_k = {L.K}], got shape {tuple(shape)}")
        ids = topk_ids if len(shape) == 2 else topk_ids.reshape(-1, L.K)
        T = ids.shape[0]
        dev = ids.device
        on_cpu = dev.type == "cpu"
        fast = self.cpu_fast_path and training and kept is None and on_cpu
        for nm, t in (("probs", probs), ("logits", logits)):
            if t is not None:
                if not isinstance(t, torch.Tensor) or not t.is_floating_point():
                    raise TypeError(f"{where}: {nm} must be a floating-point torch.Tensor")
                if t.shape[-1] != L.E or t.numel() != T * L.E:
                    raise ValueError(f"{where}: {nm} must be [tokens = {T}, n_experts = {L.E}], got shape {tuple(t.shape)}")
                fast = fast and t.device.type == "cpu"
        if on_cpu and T > 0 and not fast:  # free to check at once on the CPU; on a device, at the record
            lo, hi = (int(v) for v in torch.aminmax(ids))
            if lo < 0 or hi >= L.E:
                raise ValueError(f"{where}: expert id {hi if hi >= L.E else lo} is not in [0, {L.E}) (n_experts = {L.E})")
        if not training:
            L.observe_eval(ids.detach())
            return
        coact = self.interval % self.coact_every == 0
        if fast:
            L.observe_cpu(ids, probs, logits, T, where, coact)
        else:
            L.observe_torch(ids.detach(), probs, logits, kept, T, where, coact, ids_checked=on_cpu)

    def observe_router(self, key, topk_ids, logits, training: bool):
        """observe() for watch's router hooks (already outside the autograd engine): CPU tensors
        in training go straight to the layer's one-pass C++ totals after the checks that pass
        cannot make (integer ids [T, K] of this layer's K, floating logits); anything else takes
        observe()."""
        L = self.layers[key]
        try:
            fast = (training and self.cpu_fast_path and topk_ids.is_cpu and logits.is_cpu and topk_ids.dim() == 2
                    and topk_ids.shape[1] == L.K and topk_ids.dtype in _ID_DTYPES and logits.is_floating_point())
        except AttributeError:  # not tensors: observe() says what is wrong
            fast = False
        if fast:
            L.observe_cpu(topk_ids, None, logits, topk_ids.shape[0], L.where, self.interval % self.coact_every == 0)
        else:
            self.observe(key, topk_ids, logits=logits, training=training, _checked_backward=True)

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
        self._fw_losses.append(loss.detach())
        self._fw_summed = summed

    # ---- per optimizer step -------------------------------------------------------------
    def step(self, loss=None, lr=None, step: Optional[int] = None) -> Optional[dict]:
        """The end of an optimizer step (after the step and any bias update). Writes a record every
        log_every steps and returns it (rank 0; None otherwise). loss: the step's loss (a
        tensor, kept on its device until the record, or a number); default: the loss the
        watched model returned (its micro-batches' mean, or sum, see add_forward_loss)."""
        self.step_no = self.step_no + 1 if step is None else int(step)
        for bal in self.balancers:
            bal.update()
        for L in self.layers.values():
            L.end_step()
        if loss is not None:
            self._losses.append((loss.detach() if hasattr(loss, "detach") else float(loss), 1.0))
        elif self._fw_losses:  # the model's own loss (watch's hook on its output)
            w = 1.0 if self._fw_summed else 1.0 / len(self._fw_losses)
            self._losses.extend((l, w) for l in self._fw_losses)
        if loss is not None or self._fw_losses:
            self._loss_steps += 1
        self._fw_losses = []
        self._lr = lr
        if self.step_no % self.log_every == 0:
            return self.flush()
        return None

    def _interval_loss(self) -> Optional[float]:
        """The mean over the interval's steps of each step's loss (one host read, at the record)."""
        if not self._loss_steps:
            return None
        vals = [v for v, _ in self._losses]
        wts = [w for _, w in self._losses]
        if all(isinstance(v, float) or v.device.type == "cpu" for v in vals):  # no device to sync with
            total = sum(float(v) * w for v, w in zip(vals, wts))
        else:
            torch = _torch()
            dev = next(v.device for v in vals if not isinstance(v, float))
            t = torch.stack([v.reshape(()).to(dev, torch.float64) if not isinstance(v, float)
                             else torch.tensor(v, dtype=torch.float64, device=dev) for v in vals])
            total = float(t @ torch.tensor(wts, dtype=torch.float64, device=dev))
        return total / self._loss_steps

    def flush(self, extra: Optional[dict] = None) -> Optional[dict]:
        """Writes the interval's record now (normally called by step())."""
        if not self.layers:
            raise RuntimeError("moescope: no MoE layer was observed (nothing to record)")
        self._open()
        ordered = self._order
        arrays = gather_interval(ordered, self.group)  # the one reduction and host transfer
        rec = None
        coact_now = self.interval % self.coact_every == 0
        if self.writer:
            bias = [L.bias_arrays() for L in ordered]
            moe_json, alerts_json = self.session.log(
                self.step_no, [a.counts for a in arrays], [a.kept for a in arrays], [a.steps for a in arrays],
                [a.totals for a in arrays], [a.coact if coact_now else None for a in arrays],
                [b[0] for b in bias], [b[1] for b in bias], [b[2] for b in bias])
            head = {_core.FIELD_SCHEMA: 1, _core.FIELD_TYPE: _core.TYPE_TRAIN, _core.FIELD_STEP: self.step_no}
            loss = self._interval_loss()
            if loss is not None:
                head["loss"] = loss
            if self._lr is not None:
                head["lr"] = float(self._lr)
            head["elapsed_s"] = time.time() - self._t0
            tail = dict(extra or {})
            moe = json.loads(moe_json)  # the library's fields (a JSON object), written as they came
            rec = {**head, **moe, **tail}
            for ev in self._ladder():
                self._write(ev)
            if moe and not (tail.keys() & moe.keys()):
                line = json.dumps(head)[:-1] + ", " + moe_json.strip()[1:]
                self._write_line(line[:-1] + ", " + json.dumps(tail)[1:] if tail else line)
            else:
                self._write(rec)
            self.records.append(rec)
            self.last_record = rec
            for al in json.loads(alerts_json):
                self.alerts.append(al)
                if self.on_alert is not None:
                    self.on_alert(al)
        for L in ordered:
            L.reset()
        self._losses, self._loss_steps = [], 0
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
        self._write_line(json.dumps(rec))

    def _write_line(self, line: str):
        with open(self._metrics_path, "a") as f:
            f.write(line + "\n")

    # ---- evaluation -----------------------------------------------------------------------
    def log_eval(self, step: Optional[int] = None, val_loss: Optional[float] = None) -> Optional[dict]:
        """Writes an eval record (per layer MaxVio_global over the evaluation's tokens, counted
        from forwards in eval mode since the last log_eval). Under torch.distributed the counts
        are summed over the ranks first (an evaluation sharded over ranks, as transformers'
        Trainer and Lightning shard it, is counted whole), so every rank must call it; rank 0
        writes and returns the record."""
        self._open()
        counts = gather_eval(self._order, self.group)
        for L in self._order:
            L.eval_counts = None
        if not self.writer:
            return None
        rec = {_core.FIELD_SCHEMA: 1, _core.FIELD_TYPE: _core.TYPE_EVAL,
               _core.FIELD_STEP: self.step_no if step is None else int(step)}
        if val_loss is not None:
            rec["val_loss"] = float(val_loss)
        rec.update(json.loads(self.session.log_eval(rec[_core.FIELD_STEP], counts)))
        self._write(rec)
        self.records.append(rec)
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
