"""balance.py: opt-in acting on a watched model -- loss-free bias balancing for routers that
carry an `e_score_correction_bias` (deepseek_v3 and the other bias-balanced transformers
models, whose training code never updates it), with moescope's trainer's rule
(src/model/router.cpp, RouterImpl::update_bias): after every optimizer step, from that step's
per-expert counts c (all micro-batches; under torch.distributed, all ranks),

    bias += rate * sign(mean(c) - c)        (zero_center: minus the update's mean)

and, with remediate=True, the remediation ladder's bias-rate rung (routing/ladder.h): when
the detector finds a layer unhealthy, or its per-step MaxVio stays above the ceiling, the
ladder's decision sets a new rate. Every rate change is a remediation record in metrics.jsonl.
"""
from __future__ import annotations


class BiasBalancer:
    def __init__(self, watcher, rate: float = 0.001, remediate: bool = False, zero_center: bool = False):
        if rate < 0:
            raise ValueError(f"moescope: bias_update_rate must be >= 0 (got {rate})")
        self.w = watcher
        self.rate = float(rate)
        self.remediate = remediate
        self.zero_center = zero_center
        self.layers = [L for L in watcher.layers.values() if getattr(L, "sigmoid", False) and L.bias_source is not None]
        if not self.layers:
            raise ValueError("moescope: balance_bias/remediate need routers with an e_score_correction_bias; "
                             f"{watcher.model_class} has none")

    def update(self):
        import torch
        import torch.distributed as dist

        if self.rate <= 0:
            return
        for L in self.layers:
            if L.step is None:
                continue
            c = L.step.to(torch.float32)
            if dist.is_available() and dist.is_initialized():
                c = c.clone()
                dist.all_reduce(c, group=self.w.group)  # the global batch's step counts
            bias = L.bias_source()
            delta = torch.sign(c.mean() - c) * self.rate
            if self.zero_center:
                delta = delta - delta.mean()
            with torch.no_grad():
                bias.add_(delta.to(bias.device, bias.dtype))
