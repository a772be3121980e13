"""moescope: the routing-health microscope (per-expert load, collapse detector, remediation
ladder, dashboard) for any PyTorch Mixture-of-Experts training run.

    w = moescope.watch(model, "runs/mine", log_every=10)   # transformers MoE models
    ... loss.backward(); opt.step(); w.step(loss=loss)

    moescope.Watcher("runs/mine", log_every=10)             # any model: the current watcher
    moescope.observe(layer, topk_ids, probs)                # in your router's forward
    ... opt.step(); moescope.step(loss=loss)

The metrics, detector and ladder are moescope's C++ routing library (moescope._core); the run
directory is read by `moescope dashboard`, `moescope scope --run` and `moescope report`.
"""
from . import _core
from .watcher import Watcher
from .watch import watch, unwatch, find_routers

__version__ = "0.1.0"


def _current(watcher):
    w = watcher if watcher is not None else Watcher.current
    if w is None:
        raise RuntimeError("moescope: no watcher: create one (moescope.Watcher(logdir) or moescope.watch(model, logdir))")
    return w


def observe(layer, topk_ids, probs=None, kept=None, logits=None, watcher: Watcher = None):
    """One forward of one MoE layer (see Watcher.observe) into the watcher created last."""
    _current(watcher).observe(layer, topk_ids, probs=probs, kept=kept, logits=logits)


def step(loss=None, lr=None, watcher: Watcher = None):
    """The end of an optimizer step (see Watcher.step) of the watcher created last."""
    return _current(watcher).step(loss=loss, lr=lr)


def load_metrics(counts, top_k: int = 1) -> dict:
    """docs/metrics.md's load metrics of one layer's per-expert counts, from the C++ library."""
    import json

    import numpy as np

    return json.loads(_core.load_metrics(np.asarray(counts, dtype=np.int64), int(top_k)))


__all__ = ["Watcher", "watch", "unwatch", "observe", "step", "find_routers", "load_metrics"]
