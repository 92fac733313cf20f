"""AlpacaEval 2.0 raw, discrete and length-controlled win rates agree with alpaca_eval 0.6.6.

The reference runs ``alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate`` itself in
.venv-ref (scikit-learn 1.5), with only the hub download redirected to a synthetic
df_gamed.csv. Its cross-validation folds are scikit-learn 1.5's (``fold_order="legacy"``);
for ``"stable"`` the reference's ``GroupKFold`` gets scikit-learn >= 1.6's stable tie-break,
the one change between those releases that touches this computation.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest

from evals.judging.lc_winrate import (
    GLM_MINIMAL,
    GLM_V1,
    FoldOrder,
    GamedData,
    Verdict,
    _legacy_equal_argsort,
    length_controlled,
    win_rates,
)
from tests.fidelity.conftest import Reference
from tests.test_lc_winrate import GAMED_COLUMNS, synthetic_gamed, synthetic_verdicts

REF = r"""
import csv, logging, os, tempfile
import numpy as np, pandas as pd, sklearn
import alpaca_eval.metrics.glm_winrate as g
from sklearn.model_selection import GroupKFold
from sklearn.utils import check_array

def stable_iter_test_indices(self, X, y, groups):  # scikit-learn >= 1.6, shuffle=False
    groups = check_array(groups, input_name="groups", ensure_2d=False, dtype=None)
    unique_groups, group_idx = np.unique(groups, return_inverse=True)
    n_samples_per_group = np.bincount(group_idx)
    indices = np.argsort(n_samples_per_group, kind="stable")[::-1]
    n_samples_per_group = n_samples_per_group[indices]
    n_samples_per_fold = np.zeros(self.n_splits)
    group_to_fold = np.zeros(len(unique_groups))
    for group_index, weight in enumerate(n_samples_per_group):
        lightest_fold = np.argmin(n_samples_per_fold)
        n_samples_per_fold[lightest_fold] += weight
        group_to_fold[indices[group_index]] = lightest_fold
    indices = group_to_fold[group_idx]
    for f in range(self.n_splits):
        yield np.where(indices == f)[0]

tmp = tempfile.mkdtemp()
gamed_csv = os.path.join(tmp, "df_gamed.csv")
with open(gamed_csv, "w", newline="") as f:
    w = csv.writer(f)
    w.writerow(DATA["header"])
    for k, row in enumerate(DATA["gamed"]):
        w.writerow([*row, "verbose" if k < len(DATA["gamed"]) // 2 else "concise"])

captured = {}
orig = (g.hf_hub_download, g.fit_LogisticRegressionCV, g.make_dmatrix_for_model,
        GroupKFold._iter_test_indices, sklearn.get_config()["enable_metadata_routing"])

def fit(*a, **k):
    model = orig[1](*a, **k)
    captured["coef"] = [float(c) for c in model.coef_[0]]
    return model

def dmatrix(*a, **k):
    out = orig[2](*a, **k)
    captured["names"] = list(out[1].columns)
    return out

g.hf_hub_download = lambda **kw: gamed_csv
g.fit_LogisticRegressionCV, g.make_dmatrix_for_model = fit, dmatrix
if DATA["fold_order"] == "stable":
    GroupKFold._iter_test_indices = stable_iter_test_indices
logging.disable(logging.INFO)
try:
    items = DATA["items"]
    df = pd.DataFrame({
        "preference": [np.nan if p is None else p + 1 for _, p, _, _ in items],
        "output_1": ["x" * b for _, _, _, b in items],
        "output_2": ["y" * m for _, _, m, _ in items],
        "generator_1": "baseline",
        "generator_2": "baseline" if DATA["same"] else "model",
        "annotator": "judge",
    }, index=[i for i, _, _, _ in items])
    RESULT = {}
    for glm in ["length_controlled_v1", "length_controlled_minimal"]:
        captured.clear()
        r = g.get_length_controlled_winrate(df.copy(), glm_info=g.GLM_INFO[glm], save_weights_dir=None)
        RESULT[glm] = {k: float(v) for k, v in r.items()}
        RESULT[glm]["weights"] = list(zip(captured.get("names", []), captured.get("coef", [])))
finally:
    g.hf_hub_download, g.fit_LogisticRegressionCV, g.make_dmatrix_for_model = orig[:3]
    GroupKFold._iter_test_indices = orig[3]
    sklearn.set_config(enable_metadata_routing=orig[4])
    logging.disable(logging.NOTSET)
"""

ARGSORT = "import numpy as np\nRESULT = [np.argsort(np.full(m, 2)).tolist() for m in DATA]"


def _dataset(seed: int, n: int, bias: float, quality: float, draws: float, missing: float) -> list[Verdict]:
    """Model vs baseline with a quality edge (logit), a length preference, draws and gaps."""
    rng = np.random.default_rng(seed)
    index = rng.choice(805, size=n, replace=False)
    model_len, base_len = rng.integers(50, 4000, n), rng.integers(50, 4000, n)
    logit = quality + bias * (model_len - base_len) / 1000 + rng.normal(0, 1, n)
    pref = np.round(1 / (1 + np.exp(-logit)), 4)
    pref[rng.random(n) < draws] = 0.5
    gaps = rng.random(n) < missing
    return [Verdict(int(i), None if gap else float(p), int(m), int(b))
            for i, p, m, b, gap in zip(index, pref, model_len, base_len, gaps, strict=True)]


DATASETS = {
    "pinned": synthetic_verdicts(),
    "small-length-biased": _dataset(1, 40, bias=3.0, quality=0.0, draws=0.1, missing=0.1),
    "weak-signal": _dataset(2, 150, bias=0.3, quality=0.1, draws=0.05, missing=0.05),
    "strong-model": _dataset(3, 300, bias=1.0, quality=1.5, draws=0.0, missing=0.02),
    "worse-and-long": _dataset(4, 805, bias=2.0, quality=-0.8, draws=0.15, missing=0.03),
}


def _gamed_for(items: list[Verdict]) -> GamedData:
    return synthetic_gamed(805) if max(v.index for v in items) >= 100 else synthetic_gamed()


def _call(reference: Reference, items: list[Verdict], gamed: GamedData, fold_order: FoldOrder,
          same: bool = False) -> dict[str, Any]:
    rows = list(zip(gamed.index, gamed.instruction_difficulty, gamed.preference, gamed.std_delta_len,
                    gamed.not_gamed_baseline, strict=True))
    data = {"items": [[v.index, v.preference, v.model_len, v.baseline_len] for v in items],
            "gamed": rows, "header": [*GAMED_COLUMNS, "model"], "fold_order": fold_order, "same": same}
    result: dict[str, Any] = reference(REF, data)
    return result


def _legacy_matches_reference_numpy(reference: Reference) -> None:
    sizes = [5, 16, 17, 40, 97, 300, 1000, 2415]
    if reference(ARGSORT, sizes) != [_legacy_equal_argsort(m) for m in sizes]:
        pytest.skip(".venv-ref's numpy sorts equal keys with a SIMD argsort (AVX-512): "
                    "scikit-learn 1.5's folds there differ from the generic order 'legacy' emulates")


@pytest.mark.parametrize("fold_order", ["stable", "legacy"])
@pytest.mark.parametrize("name", list(DATASETS))
def test_win_rates_agree_with_alpaca_eval(reference: Reference, name: str, fold_order: FoldOrder) -> None:
    if fold_order == "legacy":
        _legacy_matches_reference_numpy(reference)
    items = DATASETS[name]
    gamed = _gamed_for(items)
    expected = _call(reference, items, gamed, fold_order)

    raw = win_rates(items)
    ref = expected[GLM_V1]
    assert raw.win_rate == pytest.approx(ref["win_rate"], abs=1e-9)
    assert raw.standard_error == pytest.approx(ref["standard_error"], abs=1e-9)
    assert raw.discrete_win_rate == pytest.approx(ref["discrete_win_rate"], abs=1e-9)
    counts = (raw.n_wins, raw.n_wins_base, raw.n_draws, raw.n_total)
    assert counts == (ref["n_wins"], ref["n_wins_base"], ref["n_draws"], ref["n_total"])
    assert raw.n_missing == sum(v.preference is None for v in items)

    for glm, gd in ((GLM_V1, gamed), (GLM_MINIMAL, None)):
        ours = length_controlled(items, gd, fold_order=fold_order)
        ref = expected[glm]
        assert ours.glm == glm
        assert ours.value == pytest.approx(ref["length_controlled_winrate"], abs=1e-6), (name, glm)
        assert ours.stderr == pytest.approx(ref["lc_standard_error"], abs=1e-6), (name, glm)
        assert [n for n, _ in ours.weights] == [n for n, _ in ref["weights"]]
        assert [w for _, w in ours.weights] == pytest.approx([w for _, w in ref["weights"]], abs=1e-8)


def test_fold_order_matters_upstream(reference: Reference) -> None:
    """The two scikit-learn tie-breaks pick different C on this set: why fold_order exists."""
    _legacy_matches_reference_numpy(reference)
    items = DATASETS["small-length-biased"]
    gamed = _gamed_for(items)
    by_order = {o: _call(reference, items, gamed, o)[GLM_V1]["length_controlled_winrate"]
                for o in ("stable", "legacy")}
    assert not math.isclose(by_order["stable"], by_order["legacy"], abs_tol=1e-3)


def test_baseline_against_itself_agrees(reference: Reference) -> None:
    items = DATASETS["weak-signal"]
    expected = _call(reference, items, synthetic_gamed(805), "stable", same=True)
    for glm, gd in ((GLM_V1, synthetic_gamed(805)), (GLM_MINIMAL, None)):
        ours = length_controlled(items, gd, model_is_baseline=True)
        assert (ours.value, ours.stderr) == (expected[glm]["length_controlled_winrate"],
                                             expected[glm]["lc_standard_error"])
