"""The Python package's verdicts on one set of counts (tests/fixtures/verdicts/counts.json): the
library behind moescope._core gives in every interval the status of the written definition
(docs/metrics.md, "Ground truth"), as tests/scope/verdicts_test.cpp checks for the C++ trainer's
and `scope --model`'s microscopes on the same counts: the three front ends agree."""
import json
import os

import numpy as np

from moescope import _core

FIXTURE = os.path.join(os.environ.get("MOESCOPE_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", "..")),
                       "tests", "fixtures", "verdicts", "counts.json")


def statuses(sc, log_every):
    E, K = sc["experts"], sc["top_k"]
    fields = _core.Session.totals_fields()
    is_max = _core.Session.totals_max()
    s = _core.Session([(1, E, K)], "", False, {})
    out = []
    for i, iv in enumerate(sc["intervals"]):
        counts = np.array(iv["counts"], dtype=np.int64)
        slots = int(counts.sum())
        dropped = int(round(iv["drop_rate"] * slots))
        totals = np.array([-1e30 if m else 0.0 for m in is_max], dtype=np.float64)
        for name, v in (("assign", slots), ("dropped", dropped), ("tokens", slots // K), ("forwards", 1)):
            totals[fields.index(name)] = v
        # kept: the counts less the drops, taken from the busiest experts (as the C++ test does)
        kept = counts.copy()
        left = dropped
        while left > 0:
            j = int(np.argmax(kept))
            take = min(left, max(1, int(kept[j]) // 4))
            kept[j] -= take
            left -= take
        moe_json, _ = s.log((i + 1) * log_every, [counts], [kept], [counts[None, :]], [totals], [None], [None], [None], [None])
        layer = json.loads(moe_json)[_core.FIELD_MOE][0]
        assert layer[_core.FIELD_STATUS] == s.status(1)
        out.append(layer[_core.FIELD_STATUS])
    return out


def test_the_package_gives_the_written_statuses_for_the_shared_counts():
    fx = json.load(open(FIXTURE))
    assert fx["version"] == 1
    assert len(fx["scenarios"]) >= 6
    for sc in fx["scenarios"]:
        assert statuses(sc, fx["log_every"]) == sc["expect"], sc["name"]


def test_the_detector_binding_gives_the_same_statuses_from_logged_figures():
    # The detector alone (moescope._core.Detector), fed each interval's counts, MaxVio_batch and
    # drop rate as a run log holds them (a resumed run's replay): the same statuses.
    fx = json.load(open(FIXTURE))
    for sc in fx["scenarios"]:
        d = _core.Detector({})
        got = []
        for i, iv in enumerate(sc["intervals"]):
            counts = np.array(iv["counts"], dtype=np.int64)
            mean = counts.sum() / len(counts)
            d.observe((i + 1) * fx["log_every"], 1, counts, sc["top_k"], float((counts.max() - mean) / mean), iv["drop_rate"])
            got.append(d.status(1))
        assert got == sc["expect"], sc["name"]
    assert _core.STATUSES == ["ok", "warning", "imbalanced", "dropping", "collapsed"]
