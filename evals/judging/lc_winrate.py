"""AlpacaEval 2.0 win rates — raw (weighted), discrete and length-controlled — as alpaca_eval 0.6.6.

Re-implemented rather than imported: alpaca_eval pulls in patsy, openai, datasets and a hub
download at import/fit time. This module needs numpy and scikit-learn only and reproduces
``alpaca_eval.metrics.get_winrate`` and ``get_length_controlled_winrate`` to float precision
(see tests/fidelity/test_lc_winrate_ref.py).

Conventions. A ``Verdict`` holds the judge's preference *for the evaluated model* in [0, 1]
(alpaca_eval stores ``preference - 1`` with 1 = baseline, 2 = model; 0.5 is a draw). ``None`` is
no verdict: dropped from the win rates and counted in ``n_missing``.

The length-controlled (LC) win rate fits alpaca_eval's GLM ``length_controlled_v1``
(``tanh(std_delta_len) + instruction_difficulty + not_gamed_baseline - 1``, L1 logistic
regression with continuous labels, C picked by 5-fold group cross-validation, regularised
towards two "gamed" baselines with lambda = 0.2) and predicts with the length difference set
to zero. ``instruction_difficulty`` and the gamed rows come from ``df_gamed.csv`` on the hub
dataset tatsu-lab/alpaca_eval; without that file only the ``length_controlled_minimal`` GLM
(no difficulty, no regularisation) can be fitted, and ``LCResult.glm`` says so.

Cross-validation folds: alpaca_eval's folds come from scikit-learn's ``GroupKFold`` on groups
of equal size, so the assignment is a tie-break. scikit-learn >= 1.6 breaks ties stably
(``fold_order="stable"``, the default: what alpaca_eval computes when installed today);
scikit-learn <= 1.5 used numpy's unstable introsort, whose order numpy 1.x (without AVX-512)
produced for equal keys (``fold_order="legacy"``). The choice of C, and so the LC value, can
differ by points between the two on small or weak-signal sets.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from evals.errors import DataError

FloatArray = npt.NDArray[np.float64]
FoldOrder = Literal["stable", "legacy"]

GLM_V1 = "length_controlled_v1"
GLM_MINIMAL = "length_controlled_minimal"
# alpaca_eval's (patsy's) column names, so saved weights compare with theirs.
TANH_LEN = "np.tanh(std_delta_len)"
DIFFICULTY = "instruction_difficulty"
NOT_GAMED = "not_gamed_baseline.astype(float)"

REGULARIZE_LAMBDA = 0.2
N_SPLITS = 5
CS = np.logspace(-4, 4, 10)  # LogisticRegressionCV's default grid (Cs=10)
RANDOM_STATE = 123
GAMED_REPO = "tatsu-lab/alpaca_eval"
GAMED_FILE = "df_gamed.csv"
_GAMED_COLUMNS = ("index", "instruction_difficulty", "preference", "std_delta_len", "not_gamed_baseline")


@dataclass(frozen=True)
class Verdict:
    """One instruction's pairwise judgement.

    ``index`` is the instruction's position in the 805-item AlpacaEval set (it keys
    ``instruction_difficulty``); lengths are ``len()`` of the outputs in characters.
    """

    index: int
    preference: float | None
    model_len: int
    baseline_len: int

    def __post_init__(self) -> None:
        if self.preference is not None and not 0.0 <= self.preference <= 1.0:
            raise ValueError(f"preference must be in [0, 1] or None, got {self.preference!r}")
        if self.index < 0 or self.model_len < 0 or self.baseline_len < 0:
            raise ValueError(f"index and lengths must be >= 0: {self!r}")


@dataclass(frozen=True)
class WinRates:
    """alpaca_eval's ``get_winrate`` output; rates and stderr in percent."""

    win_rate: float
    standard_error: float
    discrete_win_rate: float
    n_wins: int
    n_wins_base: int
    n_draws: int
    n_total: int
    n_missing: int


@dataclass(frozen=True)
class GamedData:
    """Rows of df_gamed.csv: two length-gamed baselines' annotations plus per-instruction difficulty."""

    index: tuple[int, ...]
    instruction_difficulty: tuple[float, ...]
    preference: tuple[float, ...]  # in [0, 1]; NaN = no verdict
    std_delta_len: tuple[float, ...]
    not_gamed_baseline: tuple[bool, ...]
    source: str = "df_gamed.csv"

    def difficulty(self) -> dict[int, float]:
        """First row per instruction, as alpaca_eval's ``drop_duplicates("index")``.

        alpaca_eval then looks instruction i up by *row label* i, which is the same thing when
        the file lists instructions 0, 1, 2, ... first (one gamed model's block), as assumed here.
        """
        out: dict[int, float] = {}
        for i, d in zip(self.index, self.instruction_difficulty, strict=True):
            out.setdefault(i, d)
        return out


@dataclass(frozen=True)
class LCResult:
    """Length-controlled win rate (percent) and the GLM that produced it."""

    value: float
    stderr: float
    glm: str
    weights: tuple[tuple[str, float], ...]

    @property
    def metric_name(self) -> str:
        """Label that keeps the minimal GLM from passing for AlpacaEval 2.0's LC number."""
        return "lc_win_rate" if self.glm == GLM_V1 else "lc_win_rate_minimal"


def win_rates(items: Sequence[Verdict]) -> WinRates:
    """Raw (mean preference) and discrete (wins + draws/2) win rates of the model over the baseline."""
    # Shift to alpaca_eval's 1..2 encoding and back so float edge cases (e.g. draws) agree.
    coded = np.array([v.preference + 1.0 for v in items if v.preference is not None], dtype=np.float64)
    if coded.size == 0:
        raise ValueError(f"no verdicts among {len(items)} items: win rate undefined")
    pref = coded - 1.0
    n_wins, n_base, n_draws = int((pref > 0.5).sum()), int((pref < 0.5).sum()), int((coded == 1.5).sum())
    n = int(coded.size)
    return WinRates(
        win_rate=float(pref.mean() * 100),
        standard_error=_sem(pref) * 100,
        discrete_win_rate=(n_wins + n_draws / 2) / n * 100,
        n_wins=n_wins,
        n_wins_base=n_base,
        n_draws=n_draws,
        n_total=n,
        n_missing=len(items) - n,
    )


def length_controlled(
    items: Sequence[Verdict],
    gamed: GamedData | None,
    *,
    model_is_baseline: bool = False,
    fold_order: FoldOrder = "stable",
) -> LCResult:
    """LC win rate: ``length_controlled_v1`` with ``gamed``, else ``length_controlled_minimal``.

    As in alpaca_eval, items without a verdict are left out of the fit but still count in the
    length standardisation and in the mean of the predictions.
    """
    if fold_order not in ("stable", "legacy"):
        raise ValueError(f"fold_order must be 'stable' or 'legacy', got {fold_order!r}")
    glm = GLM_V1 if gamed is not None else GLM_MINIMAL
    names = (TANH_LEN, DIFFICULTY, NOT_GAMED) if gamed is not None else (TANH_LEN, NOT_GAMED)
    if model_is_baseline:  # alpaca_eval short-circuits: a model ties with itself by construction
        return LCResult(50.0, 0.0, glm, tuple((n, 0.0) for n in names))
    x_train, p_train, w_train, x_test = _design(items, gamed)
    coef = _fit_l1_cv(x_train, p_train, w_train, fold_order)
    predicted = _expit(x_test @ coef)
    return LCResult(
        value=float(predicted.mean() * 100),
        stderr=_sem(predicted) * 100,
        glm=glm,
        weights=tuple((n, float(c)) for n, c in zip(names, coef, strict=True)),
    )


def load_gamed(path: Path) -> GamedData:
    """Parse a local copy of df_gamed.csv (from the hub dataset tatsu-lab/alpaca_eval)."""
    fix = f"download {GAMED_FILE} from https://huggingface.co/datasets/{GAMED_REPO} and pass its path"
    if not path.is_file():
        raise DataError(f"{path}: file not found; {fix}")
    with path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    missing = [c for c in _GAMED_COLUMNS if not rows or c not in rows[0]]
    if missing:
        raise DataError(f"{path}: missing columns {missing} (empty or not df_gamed.csv); {fix}")
    try:
        data = GamedData(
            index=tuple(int(float(r["index"])) for r in rows),
            instruction_difficulty=tuple(float(r["instruction_difficulty"]) for r in rows),
            preference=tuple(_float_or_nan(r["preference"]) for r in rows),
            std_delta_len=tuple(float(r["std_delta_len"]) for r in rows),
            not_gamed_baseline=tuple(_parse_bool(r["not_gamed_baseline"]) for r in rows),
            source=str(path),
        )
    except ValueError as e:
        raise DataError(f"{path}: unparseable value ({e}); {fix}") from e
    if any(not math.isnan(p) and not 0.0 <= p <= 1.0 for p in data.preference):
        raise DataError(f"{path}: preference outside [0, 1] (expected alpaca_eval's preference - 1); {fix}")
    return data


def download_gamed(cache_dir: Path | None = None) -> GamedData:
    """Fetch df_gamed.csv from the hub; refused when HF_HUB_OFFLINE is set."""
    fix = f"download {GAMED_FILE} from https://huggingface.co/datasets/{GAMED_REPO} and use load_gamed(path)"
    if os.environ.get("HF_HUB_OFFLINE", "").strip().upper() in {"1", "ON", "YES", "TRUE"}:
        raise DataError(f"hf://datasets/{GAMED_REPO}/{GAMED_FILE}: HF_HUB_OFFLINE is set; {fix}")
    from huggingface_hub import hf_hub_download

    try:
        local = hf_hub_download(
            repo_id=GAMED_REPO, filename=GAMED_FILE, repo_type="dataset", cache_dir=cache_dir
        )
    except Exception as e:  # network, auth, missing repo: all fixed the same way
        raise DataError(f"hf://datasets/{GAMED_REPO}/{GAMED_FILE}: download failed ({e}); {fix}") from e
    return load_gamed(Path(local))


# --- design matrix ---------------------------------------------------------------------------


def _design(
    items: Sequence[Verdict], gamed: GamedData | None
) -> tuple[FloatArray, FloatArray, FloatArray | None, FloatArray]:
    """Train rows (gamed rows first, as alpaca_eval concatenates), labels, weights, test rows."""
    n = len(items)
    p = np.array([np.nan if v.preference is None else v.preference for v in items], dtype=np.float64)
    tanh_len = np.tanh(_std_delta_len(items))
    ones, zeros = np.ones(n), np.zeros(n)
    if gamed is None:
        return np.c_[tanh_len, ones], p, None, np.c_[zeros, ones]
    difficulty = _difficulties(items, gamed)
    ng = np.array(gamed.not_gamed_baseline, dtype=bool)
    x_gamed = np.c_[np.tanh(np.array(gamed.std_delta_len)), np.array(gamed.instruction_difficulty), ng]
    x_train = np.vstack([x_gamed, np.c_[tanh_len, difficulty, ones]])
    p_train = np.concatenate([np.array(gamed.preference, dtype=np.float64), p])
    not_gamed = np.concatenate([ng, np.ones(n, dtype=bool)])
    # alpaca_eval's weights: 1 for the model's rows, lambda / 2 per gamed baseline row.
    w = not_gamed.astype(float) + (REGULARIZE_LAMBDA * ~not_gamed).astype(float) / 2
    return x_train, p_train, w, np.c_[zeros, difficulty, ones]


def _std_delta_len(items: Sequence[Verdict]) -> FloatArray:
    delta = np.array([v.baseline_len - v.model_len for v in items], dtype=np.float64)
    std = float(delta.std(ddof=1)) if delta.size > 1 else math.nan
    if not std > 0:
        raise ValueError(
            f"length differences (baseline - model) of {len(items)} items have no spread: "
            "the LC win rate is undefined (pass model_is_baseline=True when comparing the baseline to itself)"
        )
    return delta / std


def _difficulties(items: Sequence[Verdict], gamed: GamedData) -> FloatArray:
    table = gamed.difficulty()
    unknown = sorted({v.index for v in items} - table.keys())
    if unknown:
        raise DataError(
            f"{gamed.source}: no instruction_difficulty for instruction indices {unknown[:5]} "
            "(Verdict.index must be the position in the 805-item AlpacaEval set)"
        )
    return np.array([table[v.index] for v in items], dtype=np.float64)


# --- the fit: LogisticRegressionCV(penalty="l1", solver="liblinear") with continuous labels ---


def _fit_l1_cv(x: FloatArray, p: FloatArray, w: FloatArray | None, fold_order: FoldOrder) -> FloatArray:
    """alpaca_eval's ``fit_LogisticRegressionCV(is_ytrue_proba=True)``, unrolled.

    Each row is duplicated, once labelled 1 with weight p and once labelled 0 with weight 1 - p
    (times the row weight); both copies share a CV group. Written out instead of calling
    LogisticRegressionCV, whose penalty/l1_ratios/scoring API and fold tie-breaks changed
    across scikit-learn releases; the liblinear fits and seeds are the same.
    """
    keep = ~np.isnan(p)
    x, p = x[keep], p[keep]
    w = None if w is None else w[keep]
    m = len(p)
    if m < N_SPLITS:
        raise ValueError(f"{m} rows with a verdict: the LC fit needs at least {N_SPLITS} (one per CV fold)")
    xd = np.ascontiguousarray(np.vstack([x, x]))
    yd = np.concatenate([np.ones(m), np.zeros(m)])
    true_prob = np.concatenate([p, 1 - p])
    true_w = None if w is None else np.concatenate([w, w])
    sw = true_prob if true_w is None else true_prob * true_w
    fold = np.tile(_group_folds(m, fold_order), 2)
    totals = np.zeros(len(CS))
    for f in range(N_SPLITS):
        test = fold == f
        rng = np.random.RandomState(RANDOM_STATE)  # one fresh seed stream per fold, consumed per C
        for j, c in enumerate(CS):
            coef = _liblinear_l1(xd[~test], yd[~test], sw[~test], float(c), rng)
            w_test = None if true_w is None else true_w[test]
            totals[j] += _neg_logloss(coef, xd[test], yd[test], true_prob[test], w_test)
    best = float(CS[int(np.argmax(totals))])
    return _liblinear_l1(xd, yd, sw, best, np.random.RandomState(RANDOM_STATE))


def _group_folds(m: int, fold_order: FoldOrder) -> npt.NDArray[np.int64]:
    """GroupKFold on m equal-sized groups: the k-th group in tie-break order goes to fold k % 5."""
    order = np.arange(m) if fold_order == "stable" else np.array(_legacy_equal_argsort(m), dtype=np.int64)
    fold = np.empty(m, dtype=np.int64)
    fold[order[::-1]] = np.arange(m) % N_SPLITS
    return fold


def _legacy_equal_argsort(num: int) -> list[int]:
    """numpy 1.x's generic ``np.argsort`` (introsort) permutation of ``num`` equal keys.

    With no key ever "less", only the partition swaps move elements; runs of at most 16 are
    left to insertion sort, which does not move equal keys.
    """
    perm = list(range(num))
    stack: list[tuple[int, int]] = []
    lo, hi = 0, num - 1
    while True:
        while hi - lo > 15:  # numpy's SMALL_QUICKSORT
            mid = lo + ((hi - lo) >> 1)
            i, j = lo, hi - 1
            perm[mid], perm[j] = perm[j], perm[mid]
            while True:
                i, j = i + 1, j - 1
                if i >= j:
                    break
                perm[i], perm[j] = perm[j], perm[i]
            perm[i], perm[hi - 1] = perm[hi - 1], perm[i]
            if i - lo < hi - i:
                stack.append((i + 1, hi))
                hi = i - 1
            else:
                stack.append((lo, i - 1))
                lo = i + 1
        if not stack:
            return perm
        lo, hi = stack.pop()


def _liblinear_l1(
    x: FloatArray, y: FloatArray, sw: FloatArray, c: float, rng: np.random.RandomState
) -> FloatArray:
    from sklearn.linear_model import LogisticRegression  # type: ignore[import-untyped]

    model: Any = LogisticRegression(
        C=c, solver="liblinear", fit_intercept=False, random_state=rng, **_l1_penalty()
    )
    model.fit(x, y, sample_weight=sw)
    coef: FloatArray = model.coef_[0]
    return coef


def _l1_penalty() -> dict[str, Any]:
    """scikit-learn 1.8 deprecated ``penalty`` (removed in 1.10); ``l1_ratio=1`` is the same L1 fit."""
    import sklearn  # type: ignore[import-untyped]

    major, minor = (int(part) for part in sklearn.__version__.split(".")[:2])
    return {"l1_ratio": 1.0} if (major, minor) >= (1, 8) else {"penalty": "l1"}


def _neg_logloss(
    coef: FloatArray, x: FloatArray, y: FloatArray, true_prob: FloatArray, w: FloatArray | None
) -> float:
    """alpaca_eval's ``logloss_continuous`` scorer (negated, as ``make_scorer`` reports it)."""
    target = np.where(y == 1, true_prob, 1 - true_prob)  # both copies of a row revert to its p
    pred = np.clip(_expit(x @ coef), 1e-15, 1 - 1e-15)
    ll = target * np.log(pred) + (1 - target) * np.log(1 - pred)
    if w is not None:
        ll = ll * w
    return float(np.mean(ll))


def _expit(z: FloatArray) -> FloatArray:
    out: FloatArray = 1.0 / (1.0 + np.exp(-z))
    return out


def _sem(values: FloatArray) -> float:
    """pandas' ``Series.sem`` (ddof=1); NaN for a single value."""
    if values.size < 2:
        return math.nan
    return float(values.std(ddof=1) / math.sqrt(values.size))


def _float_or_nan(text: str) -> float:
    return float(text) if text.strip() else math.nan


def _parse_bool(text: str) -> bool:
    value = text.strip().lower()
    if value not in {"true", "false", "1", "0", "1.0", "0.0"}:
        raise ValueError(f"not a boolean: {text!r}")
    return value in {"true", "1", "1.0"}
