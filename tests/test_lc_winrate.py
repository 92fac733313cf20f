"""AlpacaEval 2.0 win rates: hand-computed raw/discrete rates, LC values pinned from alpaca_eval
itself, and properties of the length control that a wrong fit would break."""

from __future__ import annotations

import csv
import dataclasses
import math
import random
from pathlib import Path

import pytest

from evals.errors import DataError
from evals.judging.lc_winrate import (
    GLM_MINIMAL,
    GLM_V1,
    FoldOrder,
    GamedData,
    Verdict,
    download_gamed,
    length_controlled,
    load_gamed,
    win_rates,
)


def synthetic_verdicts(n: int = 60, seed: int = 7, n_instructions: int = 100) -> list[Verdict]:
    """A model somewhat better than the baseline and favoured for length, with draws and gaps.

    Python's ``random`` (not numpy's) so the set is identical in the reference environment.
    """
    rng = random.Random(seed)
    out = []
    for k, index in enumerate(rng.sample(range(n_instructions), n)):
        model_len, base_len = rng.randint(300, 2500), rng.randint(300, 2500)
        logit = 0.4 + 1.5 * (model_len - base_len) / 1000 + rng.gauss(0, 1)
        pref: float | None = round(1 / (1 + math.exp(-logit)), 3)
        if k % 9 == 4:
            pref = 0.5
        if k % 13 == 6:
            pref = None
        out.append(Verdict(index, pref, model_len, base_len))
    return out


def synthetic_gamed(n_instructions: int = 100, seed: int = 11) -> GamedData:
    """df_gamed.csv's layout at a small size: a verbose and a concise gamed baseline per instruction."""
    rng = random.Random(seed)
    difficulty = [round(rng.gauss(0, 1), 6) for _ in range(n_instructions)]
    index, diff, pref, sdl = [], [], [], []
    for sign in (-1.0, 1.0):  # verbose (longer than the baseline), then concise
        for i in range(n_instructions):
            s = sign * abs(rng.gauss(1.0, 0.5))
            logit = -0.8 * math.tanh(s) - difficulty[i] + rng.gauss(0, 0.5)
            index.append(i)
            diff.append(difficulty[i])
            pref.append(round(1 / (1 + math.exp(-logit)), 6))
            sdl.append(round(s, 6))
    n = len(index)
    return GamedData(tuple(index), tuple(diff), tuple(pref), tuple(sdl), (False,) * n)


GAMED_COLUMNS = ("index", "instruction_difficulty", "preference", "std_delta_len", "not_gamed_baseline")


def write_gamed_csv(gamed: GamedData, path: Path) -> None:
    with path.open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow([*GAMED_COLUMNS, "model"])
        half = len(gamed.index) // 2
        for k, row in enumerate(
            zip(gamed.index, gamed.instruction_difficulty, gamed.preference, gamed.std_delta_len,
                gamed.not_gamed_baseline, strict=True)
        ):
            w.writerow([*row, "gamed_verbose" if k < half else "gamed_concise"])


# --- raw and discrete win rates, by hand ---------------------------------------------------


def test_win_rates_hand_computed() -> None:
    items = [Verdict(i, p, 100, 100) for i, p in enumerate([1.0, 0.0, 0.5, 0.75, None, 0.2])]
    r = win_rates(items)
    # preferences 1, 0, .5, .75, .2: mean .49; squared deviations sum to .652 -> var .163
    assert r.win_rate == pytest.approx(49.0, abs=1e-12)
    assert r.standard_error == pytest.approx(math.sqrt(0.163 / 5) * 100, abs=1e-12)
    assert (r.n_wins, r.n_wins_base, r.n_draws, r.n_total, r.n_missing) == (2, 2, 1, 5, 1)
    assert r.discrete_win_rate == pytest.approx(50.0)  # (2 wins + 1 draw / 2) / 5


def test_discrete_rounds_soft_preferences() -> None:
    r = win_rates([Verdict(0, 0.51, 1, 1), Verdict(1, 0.49, 1, 1), Verdict(2, 0.9, 1, 1)])
    assert r.discrete_win_rate == pytest.approx(200 / 3)
    assert r.win_rate == pytest.approx(190 / 3)


def test_win_rates_refuse_no_verdicts() -> None:
    with pytest.raises(ValueError, match="no verdicts"):
        win_rates([Verdict(0, None, 1, 2)])


def test_verdict_rejects_alpaca_encoding() -> None:
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        Verdict(0, 1.5, 10, 10)  # alpaca_eval's 1..2 code, not a probability


# --- LC pinned from alpaca_eval 0.6.6 --------------------------------------------------------
# Produced once by alpaca_eval.metrics.glm_winrate.get_length_controlled_winrate on exactly
# synthetic_verdicts() / synthetic_gamed() (preference + 1 as output_2's preference, "x" * len
# outputs, DataFrame index = instruction index, hf_hub_download patched to the CSV of
# write_gamed_csv, save_weights_dir=None): "stable" with scikit-learn 1.9.1 / numpy 2.3.5 /
# pandas 3.1.1, "legacy" in .venv-ref (scikit-learn 1.5.0 / numpy 1.26.4, no AVX-512).
PINNED = {
    ("stable", GLM_V1): (56.821144975071434, 0.9716233046762021),
    ("stable", GLM_MINIMAL): (56.27809220127279, 0.0),
    ("legacy", GLM_V1): (56.741551789958166, 0.959989137136295),
    ("legacy", GLM_MINIMAL): (56.27809220127279, 0.0),
}
# win_rate, standard_error, discrete_win_rate
PINNED_RAW = (58.752727272727256, 3.625497856949277, 61.81818181818181)


def test_raw_win_rates_pinned() -> None:
    r = win_rates(synthetic_verdicts())
    assert (r.win_rate, r.standard_error, r.discrete_win_rate) == pytest.approx(PINNED_RAW, abs=1e-9)


@pytest.mark.parametrize(("fold_order", "glm"), list(PINNED))
def test_lc_pinned_to_alpaca_eval(fold_order: FoldOrder, glm: str) -> None:
    gamed = synthetic_gamed() if glm == GLM_V1 else None
    r = length_controlled(synthetic_verdicts(), gamed, fold_order=fold_order)
    assert r.glm == glm
    assert (r.value, r.stderr) == pytest.approx(PINNED[(fold_order, glm)], abs=1e-6)


def test_gamed_csv_round_trip(tmp_path: Path) -> None:
    gamed = synthetic_gamed()
    write_gamed_csv(gamed, tmp_path / "df_gamed.csv")
    loaded = load_gamed(tmp_path / "df_gamed.csv")
    assert loaded == dataclasses.replace(gamed, source=str(tmp_path / "df_gamed.csv"))
    assert loaded.difficulty()[7] == gamed.instruction_difficulty[7]


# --- properties --------------------------------------------------------------------------------


def _length_only(n: int = 120, seed: int = 3) -> list[Verdict]:
    """The model is longer and preferred only for that: p depends on the length gap alone."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base_len = rng.randint(300, 1500)
        model_len = base_len + rng.randint(-200, 1500)
        p = 1 / (1 + math.exp(-2.5 * (model_len - base_len) / 1000))
        out.append(Verdict(i, round(p, 4), model_len, base_len))
    return out


@pytest.mark.parametrize("with_gamed", [False, True])
def test_length_bias_is_removed(with_gamed: bool) -> None:
    items = _length_only()
    raw = win_rates(items).win_rate
    lc = length_controlled(items, synthetic_gamed(120) if with_gamed else None).value
    assert raw > 65
    assert lc < raw - 10
    if not with_gamed:  # pure length effect, nothing else to explain: LC sits at parity
        assert lc == pytest.approx(50, abs=2)


def test_symmetric_inputs_give_fifty() -> None:
    base = synthetic_verdicts()
    mirrored = [Verdict(v.index, None if v.preference is None else 1 - v.preference, v.baseline_len,
                        v.model_len) for v in base]
    items = base + mirrored
    assert win_rates(items).win_rate == pytest.approx(50, abs=1e-9)
    assert win_rates(items).discrete_win_rate == pytest.approx(50, abs=1e-9)
    assert length_controlled(items, None).value == pytest.approx(50, abs=1e-3)


def test_baseline_against_itself() -> None:
    items = [Verdict(i, 0.5, 700, 700) for i in range(30)]
    assert win_rates(items).win_rate == 50
    for gamed in (None, synthetic_gamed()):
        r = length_controlled(items, gamed, model_is_baseline=True)
        assert (r.value, r.stderr) == (50.0, 0.0)
        assert all(w == 0.0 for _, w in r.weights)
    with pytest.raises(ValueError, match="no spread"):
        length_controlled(items, None)  # equal lengths without the flag: undefined, not 50


def test_minimal_glm_is_labelled() -> None:
    items = synthetic_verdicts()
    minimal = length_controlled(items, None)
    full = length_controlled(items, synthetic_gamed())
    assert (minimal.glm, minimal.metric_name) == (GLM_MINIMAL, "lc_win_rate_minimal")
    assert (full.glm, full.metric_name) == (GLM_V1, "lc_win_rate")
    assert [n for n, _ in full.weights] == [
        "np.tanh(std_delta_len)", "instruction_difficulty", "not_gamed_baseline.astype(float)"]


def test_unknown_instruction_is_a_data_error() -> None:
    items = [*synthetic_verdicts(), Verdict(999, 0.7, 100, 900)]
    with pytest.raises(DataError, match="999"):
        length_controlled(items, synthetic_gamed())


def test_load_gamed_errors(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="not found"):
        load_gamed(tmp_path / "absent.csv")
    (tmp_path / "bad.csv").write_text("index,preference\n0,0.5\n")
    with pytest.raises(DataError, match="missing columns"):
        load_gamed(tmp_path / "bad.csv")


def test_download_refused_offline(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(DataError, match="HF_HUB_OFFLINE"):
        download_gamed()
