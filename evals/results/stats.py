"""Paired comparisons of two runs of the same benchmark, sample by sample.

Two checkpoints answer the same items, so their outcomes are paired: testing the per-item
differences is far more sensitive than comparing two means with their own stderrs (items
hard for one checkpoint are hard for the other). The test follows what the scores are:

- ``mcnemar``: 0/1 outcomes (accuracy, pass@1). Only discordant items carry information:
  the exact binomial test on them, or with a margin Tango's score test for matched pairs.
- ``sign``: judge win rates (per-item shares in [0, 1], 0.5 a tie): which run won each
  item, ties dropped, exact binomial (the same test on the signs).
- ``bootstrap``: anything else (graded scores, F1, similarity): the paired bootstrap of the
  mean difference, resampling items.

Values are per-item fractions; ``scale`` turns them into the metric's points (100 for
percentages) so that deltas and margins read like the scores users see.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
from scipy import stats as st

Method = Literal["mcnemar", "sign", "bootstrap"]
POWER = 0.8
BOOT_BLOCK = 4_000_000
"""Resampled indices held at once by the bootstrap (32 MB)."""


@dataclass(frozen=True)
class PairedComparison:
    """Candidate minus baseline on the items both runs scored, in the metric's points.

    ``p_change``: two-sided p-value of "no difference". ``p_regression``: one-sided
    p-value of "the candidate is not worse than baseline by more than ``margin``"; small
    means a regression beyond the margin is shown. ``ci_low``/``ci_high``: the two-sided
    (1 - 2 alpha) interval of the delta, so its lower end is the one-sided alpha bound.
    ``mde``: the smallest drop this many items detects at ``alpha`` with 80% power.
    """

    method: Method
    n: int
    baseline: float
    candidate: float
    delta: float
    ci_low: float
    ci_high: float
    p_change: float
    p_regression: float
    margin: float
    alpha: float
    mde: float

    @property
    def regression(self) -> bool:
        return self.p_regression < self.alpha

    @property
    def significant(self) -> bool:
        return self.p_change < self.alpha


def choose_method(baseline: Sequence[float], candidate: Sequence[float],
                  pairwise: bool = False) -> Method:
    if pairwise:
        return "sign"
    if all(v in (0.0, 1.0) for v in (*baseline, *candidate)):
        return "mcnemar"
    return "bootstrap"


def compare(baseline: Sequence[float], candidate: Sequence[float], *, margin: float = 0.0,
            alpha: float = 0.05, scale: float = 100.0, method: Method | None = None,
            n_boot: int = 10_000, seed: int = 0) -> PairedComparison:
    """``baseline[i]`` and ``candidate[i]`` are the same item's values; ``margin`` is in
    points (on ``scale``)."""
    if len(baseline) != len(candidate):
        raise ValueError(f"unpaired: {len(baseline)} baseline vs {len(candidate)} candidate items")
    if not baseline:
        raise ValueError("no items in common")
    b = np.asarray(baseline, dtype=float)
    c = np.asarray(candidate, dtype=float)
    m = margin / scale
    method = method or choose_method(baseline, candidate)
    if method == "mcnemar":
        p_change, p_reg, lo, hi = _mcnemar(b, c, m, alpha)
    elif method == "sign":
        p_change, p_reg, lo, hi = _sign(b, c, m, alpha)
    else:
        p_change, p_reg, lo, hi = _bootstrap(b, c, m, alpha, n_boot, seed)
    return PairedComparison(
        method=method, n=len(b), baseline=scale * float(b.mean()),
        candidate=scale * float(c.mean()), delta=scale * float((c - b).mean()),
        ci_low=scale * lo, ci_high=scale * hi, p_change=p_change, p_regression=p_reg,
        margin=margin, alpha=alpha, mde=scale * min_detectable_drop(b, c, alpha),
    )


def min_detectable_drop(b: np.ndarray, c: np.ndarray, alpha: float) -> float:
    """(z_{1-alpha} + z_power) * sd(d) / sqrt(n). With no observed disagreement (identical
    runs) the sd of independent outcomes stands in, so the figure never reads as 0."""
    d = c - b
    sd = float(d.std(ddof=1)) if len(d) > 1 else 0.0
    if sd == 0.0:
        p = float(b.mean())
        sd = math.sqrt(max(2 * p * (1 - p), 1e-12)) if 0 < p < 1 else math.sqrt(0.5)
    z = float(st.norm.ppf(1 - alpha) + st.norm.ppf(POWER))
    return z * sd / math.sqrt(len(d))


def _interval(d_mean: float, se: float, alpha: float) -> tuple[float, float]:
    """The (1 - 2 alpha) normal-theory interval of the mean difference."""
    z = float(st.norm.ppf(1 - alpha))
    return d_mean - z * se, d_mean + z * se


def _mcnemar(b: np.ndarray, c: np.ndarray, m: float, alpha: float
             ) -> tuple[float, float, float, float]:
    n = len(b)
    losses = int(((b == 1) & (c == 0)).sum())
    wins = int(((b == 0) & (c == 1)).sum())
    d_mean = (wins - losses) / n
    se = math.sqrt(max((wins + losses) - (wins - losses) ** 2 / n, 0.0)) / n
    discordant = wins + losses
    p_change = 1.0 if discordant == 0 else float(st.binomtest(losses, discordant).pvalue)
    lo, hi = _interval(d_mean, se, alpha)
    return p_change, _discordant_p(losses, wins, n, m), lo, hi


def _discordant_p(losses: int, wins: int, n: int, m: float) -> float:
    """One-sided p of H0 "P(win) - P(loss) >= -m" over ``n`` paired items.

    Tango's score test for matched pairs (its variance from the win and loss rates fitted
    under the H0 boundary), never below the exact McNemar p of a zero margin: showing a drop
    beyond a margin takes more evidence than showing a drop at all, and with the handful of
    discordant items a noise-level change gives, normal theory alone is too eager (a Wald
    test called 4 losses and no wins in 60 items a drop beyond 1 point at p = 0.04, when
    the exact test of any drop gives 0.06). With m = 0 this is the exact McNemar test.
    """
    discordant = wins + losses
    if discordant == 0 or m >= 1.0:
        return 1.0
    exact = float(st.binomtest(losses, discordant, alternative="greater").pvalue)
    if m <= 0:
        return exact
    rest = n - discordant
    b = losses * (1 - m) + wins * (1 - 3 * m) - 2 * rest * m
    p_win = (b + math.sqrt(b * b + 8 * n * wins * m * (1 - m))) / (4 * n)
    z = ((wins - losses) / n + m) / math.sqrt((2 * p_win + m - m * m) / n)
    return max(exact, float(st.norm.cdf(z)))


def _sign(b: np.ndarray, c: np.ndarray, m: float, alpha: float
          ) -> tuple[float, float, float, float]:
    d = c - b
    better, worse = int((d > 0).sum()), int((d < 0).sum())
    p_change = 1.0 if better + worse == 0 else float(st.binomtest(worse, better + worse).pvalue)
    # The margin is on the mean share, the test on signs: with items that differ by a typical
    # |d| (1 for win/loss shares, less for graded preferences), a mean drop of m is a net
    # share of m / |d| more items lost than won. (Ties must not count as "not worse": the
    # median item of a judged set is a tie, so a shifted sign test never fires.)
    moved = np.abs(d[d != 0])
    m_signs = m / float(moved.mean()) if m > 0 and len(moved) else m
    p_reg = _discordant_p(worse, better, len(d), min(m_signs, 1.0))
    se = float(d.std(ddof=1)) / math.sqrt(len(d)) if len(d) > 1 else 0.0
    lo, hi = _interval(float(d.mean()), se, alpha)
    return p_change, p_reg, lo, hi


def _bootstrap(b: np.ndarray, c: np.ndarray, m: float, alpha: float, n_boot: int, seed: int
               ) -> tuple[float, float, float, float]:
    d = c - b
    means = _resampled_means(d, n_boot, seed)
    observed = float(d.mean())
    # two-sided p for "no change": how often the centred replicates are as extreme
    centred = means - observed
    p_change = float((1 + (np.abs(centred) >= abs(observed)).sum()) / (n_boot + 1))
    # one-sided p for H0 "delta >= -margin": the centred replicates moved onto the H0
    # boundary (-margin), and how often they fall at or below what was observed
    p_reg = float((1 + (centred - m <= observed).sum()) / (n_boot + 1))
    lo, hi = (float(x) for x in np.quantile(means, [alpha, 1 - alpha]))
    return p_change, p_reg, lo, hi


def _resampled_means(d: np.ndarray, n_boot: int, seed: int) -> np.ndarray:
    """Bootstrap means of ``d``, drawn in blocks: one (n_boot x n) index matrix for a
    translation set of 200k sentences would take 16 GB."""
    rng = np.random.default_rng(seed)
    rows = max(1, BOOT_BLOCK // len(d))
    means = np.empty(n_boot)
    for start in range(0, n_boot, rows):
        k = min(rows, n_boot - start)
        means[start:start + k] = d[rng.integers(0, len(d), size=(k, len(d)))].mean(axis=1)
    return means
