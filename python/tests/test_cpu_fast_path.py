"""test_cpu_fast_path.py: the watcher's CPU fast path (CPU tensors handed zero-copy to the
routing library's one-pass totals, src/routing/forward_pass.h) against its torch path: the same
forwards through both give the same records (counts and co-activation exactly, every other number
within 1e-6 relative), for softmax and sigmoid routers, logits and/or probabilities, other dtypes;
a bad id or array raises a clear error naming the layer."""
import math

import pytest

torch = pytest.importorskip("torch")
import moescope  # noqa: E402

E, K = 8, 2


def _run(tmp_path, name, fast, sigmoid=False, coact_every=1):
    w = moescope.Watcher(str(tmp_path / name), log_every=2, coact_every=coact_every)
    w.cpu_fast_path = fast
    for layer in (0, 1):
        w.add_layer(layer, layer, E, K).sigmoid = sigmoid and layer == 1
    g = torch.Generator().manual_seed(11)
    for step in range(4):
        for micro in range(2):
            for layer, T in ((0, 7), (1, 12)):
                lg = torch.randn(T, E, generator=g) * (layer + 1.5)
                ids = lg.topk(K).indices
                if layer == 0:
                    w.observe(layer, ids, logits=lg)  # softmax from the logits
                elif step % 2 == 0:
                    # probabilities in float64 and int32 ids (converted once), logits beside them
                    p = lg.sigmoid() if sigmoid else lg.softmax(-1)
                    w.observe(layer, ids.int(), probs=p.double(), logits=lg.reshape(1, T, E))
                else:
                    w.observe(layer, ids.reshape(1, T, K), logits=lg)
        w.step()
    return w.records


def _same(a, b, path=""):
    if isinstance(a, dict):
        assert set(a) == set(b), path
        for k in a:
            if k != "elapsed_s":
                _same(a[k], b[k], f"{path}.{k}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b)):
            _same(x, y, f"{path}[{i}]")
    elif isinstance(a, bool) or isinstance(a, int) or a is None or isinstance(a, str):
        assert a == b, path
    else:
        assert a == pytest.approx(b, rel=1e-6, abs=1e-12), path


@pytest.mark.parametrize("sigmoid", [False, True])
def test_fast_path_records_equal_the_torch_path(tmp_path, sigmoid, monkeypatch):
    from moescope import _core
    calls = []
    real = _core.observe_forward
    monkeypatch.setattr(_core, "observe_forward", lambda *a: calls.append(1) or real(*a))
    fast = _run(tmp_path, "fast", True, sigmoid)
    assert len(calls) == 4 * 2 * 2  # every forward took the fast path
    slow = _run(tmp_path, "slow", False, sigmoid)
    assert len(calls) == 4 * 2 * 2  # and none of these
    assert len(fast) == len(slow) == 2
    for a, b in zip(fast, slow):
        for la, lb in zip(a["moe"], b["moe"]):
            assert la["counts"] == lb["counts"]  # exactly
            for k in ("router_entropy", "top1_score", "logit_rms", "logit_max"):
                assert k in la and math.isfinite(la[k])
        _same(a, b)


def test_fast_path_coactivation_equals_the_torch_path(tmp_path):
    for fast in (True, False):
        w = moescope.Watcher(str(tmp_path / f"c{fast}"), log_every=1, coact_every=1)
        w.cpu_fast_path = fast
        w.add_layer(0, 0, E, K)
        g = torch.Generator().manual_seed(3)
        lg = torch.randn(20, E, generator=g)
        w.observe(0, lg.topk(K).indices, logits=lg)
        L = w.layers[0]
        if fast:
            got = L.coact.clone()
        else:
            assert torch.equal(L.coact, got)
        oh = torch.zeros(20, E).scatter_(1, lg.topk(K).indices, 1.0)
        assert torch.equal(L.coact, (oh.t() @ oh).long())


def test_fast_path_bad_input_names_the_layer(tmp_path):
    w = moescope.Watcher(str(tmp_path / "r"), log_every=1)
    w.add_layer("gate3", 3, E, K, name="mlp.gate")
    with pytest.raises(ValueError, match=r"layer 3 \(mlp.gate\): expert id 8 is not in \[0, 8\)"):
        w.observe("gate3", torch.tensor([[0, 8]]), logits=torch.randn(1, E))
    with pytest.raises(ValueError, match=r"layer 3 \(mlp.gate\): expert id -1 is not in \[0, 8\)"):
        w.observe("gate3", torch.tensor([[-1, 2]]))
    assert int(w.layers["gate3"].step.sum()) == 0  # nothing was added by the bad forwards
    with pytest.raises(ValueError, match=r"layer 3.*probs must be \[tokens = 1, n_experts = 8\]"):
        w.observe("gate3", torch.tensor([[0, 1]]), probs=torch.rand(1, 7))
    import numpy as np
    from moescope import _core
    ids = np.zeros((2, K), np.int64)
    with pytest.raises(ValueError, match=r"layer 9: counts must be int64"):
        _core.observe_forward(ids, None, None, False, np.zeros(E, np.int32), np.zeros(4), None, "layer 9")
    with pytest.raises(ValueError, match=r"layer 9: logits must be \[tokens = 2, n_experts = 8\]"):
        _core.observe_forward(ids, None, np.zeros((2, 7), np.float32), False, np.zeros(E, np.int64), np.zeros(4), None, "layer 9")
    with pytest.raises(ValueError, match=r"layer 9: topk_ids must be C-contiguous"):
        _core.observe_forward(np.zeros((K, 2), np.int64).T, None, None, False, np.zeros(E, np.int64), np.zeros(4), None, "layer 9")
