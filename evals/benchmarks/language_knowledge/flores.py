"""FLORES-200, translation English <-> 101 languages, the first 100 devtest sentences per
direction (OpenCompass's ``flores_first100``), corpus BLEU averaged over directions.

Follows OpenCompass ``flores_gen_806ede`` (the report's prose: 8-shot): per shot a HUMAN turn
``Translate the following {Src} statements to {Tgt}.\\n{source}`` and the reference as the
BOT turn, then the same HUMAN turn for the test sentence. Scoring is ``BleuEvaluator``:
sacrebleu ``corpus_bleu`` with its defaults (tokenizer ``13a`` for *every* target, Chinese,
Japanese and Korean included: the config sets no ``tokenize``, and the ``flores-chinese``
jieba postprocessor is not used by this config), one score per direction, and the
``flores_100`` summary is the naive mean over the directions (``summarizers/groups/flores``).

Deliberate differences, both recorded here and pinned in the tests:

* Shots. Upstream's ``TopkRetriever`` picks, per test sentence, the 8 dev sentences nearest in
  a sentence-embedding space; that needs an embedding model and a ``dev`` split. We use fixed
  shots instead (FixK-style): the first k ``dev`` sentences when a dev split is present, else
  (shared data has devtest only) devtest sentences 100..100+k-1, outside the evaluated 100.
* Postprocessing. Upstream cuts the reply to its first line (``flores_postprocess``) only
  when the target is ``zho_simpl``; for all other targets the raw reply is scored, so a base
  model that continues the few-shot pattern is scored on the next prompt too. We cut every
  target's reply to its first line. Single-line replies score identically.

``DIRECTIONS`` (default: all 202 of the config, ``eng-xxx`` then ``xxx-eng``) sets which
directions run. Groups are directions. A sample's value is its sentence BLEU (for per-item
inspection only); the benchmark's number is the corpus BLEU of ``FloresBleu``.

Data: ``flores200/devtest/{code}.devtest[.gz]`` (shared data; optional ``dev/``), also
OpenCompass's ``flores_first100/{dev,devtest}/`` and ``flores200_dataset/``; or FLORES+
(``openlanguagedata/flores_plus``, gated: ``<split>/<code>.jsonl``, ``text``) as ``evals data
fetch`` stores it, read under its new codes for the four languages it renamed
(``PLUS_CODES``: zho_Hans, zho_Hant, tgl_Latn, est_Latn).
"""

from __future__ import annotations

import gzip
import random
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import partial
from pathlib import Path

from evals.benchmarks._io import jsonl_records, read_text
from evals.benchmarks._prompt import Round, rounds_to_prompt
from evals.benchmarks.base import BenchmarkContext, Metric, load_local, only_text, register
from evals.data_sources import DataSpec, Layout, Remote, RemoteFile, layout_files, remote
from evals.errors import DataError
from evals.records import (
    GenerateRequest,
    GenerationParams,
    MetricValue,
    Mode,
    ModelKind,
    Request,
    Response,
    Sample,
    SampleResult,
    Score,
)

HUB_ID = "openlanguagedata/flores_plus"
N_EVAL = 100
MAX_SHOTS = 8
PLUS_CODES = {"zho_Hans": "cmn_Hans", "zho_Hant": "cmn_Hant", "tgl_Latn": "fil_Latn",
              "est_Latn": "ekk_Latn"}
"""FLORES-200 codes FLORES+ renamed (its files carry the new ones)."""

# flores_gen_806ede's language map: OpenCompass abbreviation -> (FLORES-200 code, name)
LANGUAGES: dict[str, tuple[str, str]] = {
    "eng": ("eng_Latn", "English"), "afr": ("afr_Latn", "Afrikaans"),
    "dan": ("dan_Latn", "Danish"), "deu": ("deu_Latn", "German"),
    "isl": ("isl_Latn", "Icelandic"), "ltz": ("ltz_Latn", "Luxembourgish"),
    "nld": ("nld_Latn", "Dutch"), "nob": ("nob_Latn", "Norwegian"),
    "swe": ("swe_Latn", "Swedish"), "ast": ("ast_Latn", "Asturian"),
    "cat": ("cat_Latn", "Catalan"), "fra": ("fra_Latn", "French"),
    "glg": ("glg_Latn", "Galician"), "oci": ("oci_Latn", "Occitan"),
    "por": ("por_Latn", "Portuguese"), "ron": ("ron_Latn", "Romanian"),
    "spa": ("spa_Latn", "Spanish"), "bel": ("bel_Cyrl", "Belarusian"),
    "bos": ("bos_Latn", "Bosnian"), "bul": ("bul_Cyrl", "Bulgarian"),
    "ces": ("ces_Latn", "Czech"), "hrv": ("hrv_Latn", "Croatian"),
    "mkd": ("mkd_Cyrl", "Macedonian"), "pol": ("pol_Latn", "Polish"),
    "rus": ("rus_Cyrl", "Russian"), "slk": ("slk_Latn", "Slovak"),
    "slv": ("slv_Latn", "Slovenian"), "srp": ("srp_Cyrl", "Serbian"),
    "ukr": ("ukr_Cyrl", "Ukrainian"), "asm": ("asm_Beng", "Assamese"),
    "ben": ("ben_Beng", "Bengali"), "guj": ("guj_Gujr", "Gujarati"),
    "hin": ("hin_Deva", "Hindi"), "mar": ("mar_Deva", "Marathi"),
    "npi": ("npi_Deva", "Nepali"), "ory": ("ory_Orya", "Oriya"),
    "pan": ("pan_Guru", "Punjabi"), "snd": ("snd_Arab", "Sindhi"),
    "urd": ("urd_Arab", "Urdu"), "ckb": ("ckb_Arab", "Kurdish"),
    "cym": ("cym_Latn", "Welsh"), "ell": ("ell_Grek", "Greek"),
    "fas": ("pes_Arab", "Persian"), "gle": ("gle_Latn", "Irish"),
    "hye": ("hye_Armn", "Armenian"), "ita": ("ita_Latn", "Italian"),
    "lav": ("lvs_Latn", "Latvian"), "lit": ("lit_Latn", "Lithuanian"),
    "pus": ("pbt_Arab", "Pashto"), "tgk": ("tgk_Cyrl", "Tajik"),
    "ceb": ("ceb_Latn", "Cebuano"), "ind": ("ind_Latn", "Indonesian"),
    "jav": ("jav_Latn", "Javanese"), "mri": ("mri_Latn", "Maori"),
    "msa": ("zsm_Latn", "Malay"), "tgl": ("tgl_Latn", "Tagalog"),
    "ibo": ("ibo_Latn", "Igbo"), "kam": ("kam_Latn", "Kamba"),
    "kea": ("kea_Latn", "Kabuverdianu"), "lin": ("lin_Latn", "Lingala"),
    "lug": ("lug_Latn", "Luganda"), "nso": ("nso_Latn", "Northern Sotho"),
    "nya": ("nya_Latn", "Nyanja"), "sna": ("sna_Latn", "Shona"),
    "swh": ("swh_Latn", "Swahili"), "umb": ("umb_Latn", "Umbundu"),
    "wol": ("wol_Latn", "Wolof"), "xho": ("xho_Latn", "Xhosa"),
    "yor": ("yor_Latn", "Yoruba"), "zul": ("zul_Latn", "Zulu"),
    "amh": ("amh_Ethi", "Amharic"), "ara": ("arb_Arab", "Arabic"),
    "ful": ("fuv_Latn", "Fulah"), "mlt": ("mlt_Latn", "Maltese"),
    "orm": ("gaz_Latn", "Oromo"), "som": ("som_Latn", "Somali"),
    "azj": ("azj_Latn", "Azerbaijani"), "kaz": ("kaz_Cyrl", "Kazakh"),
    "kir": ("kir_Cyrl", "Kyrgyz"), "tur": ("tur_Latn", "Turkish"),
    "uzb": ("uzn_Latn", "Uzbek"), "kan": ("kan_Knda", "Kannada"),
    "mal": ("mal_Mlym", "Malayalam"), "tam": ("tam_Taml", "Tamil"),
    "tel": ("tel_Telu", "Telugu"), "mya": ("mya_Mymr", "Burmese"),
    "zho_simpl": ("zho_Hans", "Chinese (Simpl)"), "zho_trad": ("zho_Hant", "Chinese (Trad)"),
    "est": ("est_Latn", "Estonian"), "fin": ("fin_Latn", "Finnish"),
    "hau": ("hau_Latn", "Hausa"), "heb": ("heb_Hebr", "Hebrew"),
    "hun": ("hun_Latn", "Hungarian"), "jpn": ("jpn_Jpan", "Japanese"),
    "kat": ("kat_Geor", "Georgian"), "khm": ("khm_Khmr", "Khmer"),
    "kor": ("kor_Hang", "Korean"), "lao": ("lao_Laoo", "Lao"),
    "luo": ("luo_Latn", "Luo"), "mon": ("khk_Cyrl", "Mongolian"),
    "tha": ("tha_Thai", "Thai"), "vie": ("vie_Latn", "Vietnamese"),
}
_OTHERS = [k for k in LANGUAGES if k != "eng"]
DIRECTIONS: tuple[str, ...] = tuple(
    [f"eng-{x}" for x in _OTHERS] + [f"{x}-eng" for x in _OTHERS]
)


@dataclass(frozen=True)
class FloresItem(Sample):
    direction: str
    source: str
    shots: tuple[tuple[str, str], ...]


def flores_postprocess(text: str) -> str:
    """OpenCompass's ``flores`` postprocessor: strip, keep the first line."""
    return text.strip().split("\n")[0]


def _read(path: Path) -> list[str]:
    raw = gzip.decompress(path.read_bytes()) if path.suffix == ".gz" else path.read_bytes()
    lines = raw.decode("utf-8").split("\n")
    if lines and lines[-1] == "":
        lines.pop()
    return [x.strip() for x in lines]  # upstream: readlines(), then strip() per line


def _split(root: Path, split: str, code: str) -> list[str] | None:
    for name in (f"{code}.{split}", f"{code}.{split}.gz"):
        if (root / split / name).is_file():
            return _read(root / split / name)
    return None


def _direction_items(direction: str, src: Sequence[str], tgt: Sequence[str],
                     shots: Sequence[tuple[str, str]]) -> list[FloresItem]:
    return [FloresItem(f"{direction}/{i}", tgt[i], direction, src[i], tuple(shots))
            for i in range(N_EVAL)]


def _pair(direction: str) -> tuple[str, str]:
    s, t = direction.split("-")
    if s not in LANGUAGES or t not in LANGUAGES:
        raise DataError(f"flores: unknown direction {direction!r}")
    return s, t


def _load_local(root: Path, directions: Sequence[str]) -> list[FloresItem]:
    items: list[FloresItem] = []
    for direction in directions:
        s, t = (LANGUAGES[x][0] for x in _pair(direction))
        src, tgt = _split(root, "devtest", s), _split(root, "devtest", t)
        if src is None or tgt is None or len(src) != len(tgt) or len(src) < N_EVAL:
            raise DataError(f"flores: {root}/devtest/{s} or {t} missing or misaligned")
        dev_s, dev_t = _split(root, "dev", s), _split(root, "dev", t)
        if dev_s is not None and dev_t is not None:
            shots = list(zip(dev_s[:MAX_SHOTS], dev_t[:MAX_SHOTS], strict=True))
        else:
            shots = list(zip(src[N_EVAL:N_EVAL + MAX_SHOTS], tgt[N_EVAL:N_EVAL + MAX_SHOTS],
                             strict=True))
        items += _direction_items(direction, src, tgt, shots)
    return items


def _hub_text(root: Path, split: str, code: str) -> list[str]:
    path = root / split / f"{PLUS_CODES.get(code, code)}.jsonl"
    if not path.is_file():
        raise DataError(f"flores: {path} missing; fetch it with `evals data fetch -b flores`")
    return jsonl_records(read_text(path).split("\n"), str(path), "FLORES",
                         lambda i, row: str(row["text"]))


def _load_hub(root: Path, directions: Sequence[str]) -> list[FloresItem]:
    """FLORES+ as ``evals data fetch`` stores it: ``<split>/<code>.jsonl`` per language."""
    items: list[FloresItem] = []
    for direction in directions:
        s, t = (LANGUAGES[x][0] for x in _pair(direction))
        dev_s, dev_t = _hub_text(root, "dev", s), _hub_text(root, "dev", t)
        shots = list(zip(dev_s[:MAX_SHOTS], dev_t[:MAX_SHOTS], strict=True))
        items += _direction_items(direction, _hub_text(root, "devtest", s),
                                  _hub_text(root, "devtest", t), shots)
    return items


def _remote() -> Remote:
    """FLORES+ at the registry's commit, only the languages of OpenCompass's map."""
    base = remote("flores")
    codes = sorted({PLUS_CODES.get(code, code) for code, _ in LANGUAGES.values()})
    return replace(base, files=tuple(
        RemoteFile(f"{split}/{code}.jsonl", f"hub/{HUB_ID}/{split}/{code}.jsonl")
        for split in ("dev", "devtest") for code in codes))


DATA = DataSpec(
    layouts=(Layout("evals", "flores200", ("devtest",)),
             Layout("opencompass", "flores_first100", ("devtest",)),
             Layout("upstream", "flores200_dataset", ("devtest",)),
             Layout("hub", f"hub/{HUB_ID}", ("devtest",))),
    remote=_remote(), items=None, license="CC BY-SA 4.0")
"""``items``: 100 sentences per direction, as many directions as the subclass scores. FLORES+
on the hub is gated: ``evals data fetch`` needs ``HF_TOKEN`` of an account that accepted it."""


def _bleu_stats(hyps: Sequence[str], refs: Sequence[str]) -> list[list[int]]:
    """Per-sentence sufficient statistics of sacrebleu's BLEU (13a, as ``corpus_bleu``)."""
    from sacrebleu.metrics.bleu import BLEU

    return [list(map(int, s)) for s in BLEU()._extract_corpus_statistics(hyps, [list(refs)])]


def _bleu_from(stats: Sequence[int]) -> float:
    from sacrebleu.metrics.bleu import BLEU

    n = 4  # BLEU.MAX_NGRAM_ORDER; stats = [sys_len, ref_len, correct x4, total x4]
    return float(BLEU.compute_bleu(
        correct=list(stats[2:2 + n]), total=list(stats[2 + n:]), sys_len=stats[0],
        ref_len=stats[1], smooth_method="exp").score)


def corpus_bleu(hyps: Sequence[str], refs: Sequence[str]) -> float:
    import sacrebleu

    return float(sacrebleu.corpus_bleu(list(hyps), [list(refs)]).score)


@dataclass(frozen=True)
class FloresBleu(Metric):
    """Corpus BLEU per direction (group), averaged over directions; bootstrap stderr
    (sentences resampled within each direction, ``resamples`` times, fixed seed)."""

    aggregation = "corpus BLEU per direction, mean over directions"
    resamples: int = 200
    seed: int = 1234

    def aggregate(self, results: Sequence[SampleResult]) -> MetricValue:
        by_dir: dict[str, list[SampleResult]] = {}
        for r in results:
            by_dir.setdefault(r.group, []).append(r)
        if not by_dir:
            return MetricValue(self.name, 0.0, 0.0, self.higher_is_better)
        rng = random.Random(self.seed)
        scores, boots = [], [0.0] * self.resamples
        for rs in by_dir.values():
            hyps = [r.score.extracted or "" for r in rs]
            scores.append(corpus_bleu(hyps, [r.target for r in rs]))
            stats = _bleu_stats(hyps, [r.target for r in rs])
            for b in range(self.resamples):
                pick = [stats[rng.randrange(len(stats))] for _ in stats]
                boots[b] += _bleu_from([sum(col) for col in zip(*pick, strict=True)])
        k = len(by_dir)
        means = [x / k for x in boots]
        centre = sum(means) / len(means)
        se = (sum((m - centre) ** 2 for m in means) / max(len(means) - 1, 1)) ** 0.5
        return MetricValue(self.name, sum(scores) / k, se, self.higher_is_better)


@register
class Flores:
    name = "flores"
    modes = (Mode.GEN,)
    default_shots = MAX_SHOTS
    metric = FloresBleu("bleu")
    directions: tuple[str, ...] = DIRECTIONS
    data = DATA

    def load(self, ctx: BenchmarkContext) -> list[FloresItem]:
        if ctx.shots > MAX_SHOTS:
            raise DataError(f"flores: shots={ctx.shots}, at most {MAX_SHOTS} supported")
        local = partial(_load_local, directions=self.directions)
        return load_local(self.name, ctx, DATA, {
            "evals": local, "opencompass": local, "upstream": local,
            "hub": partial(_load_hub, directions=self.directions)})

    def data_files(self, ctx: BenchmarkContext) -> list[Path]:
        return [p for p in layout_files(DATA, ctx.data_dir) if p.parent.name.startswith("dev")]

    def group(self, sample: FloresItem) -> str:
        return sample.direction

    def requests(self, sample: FloresItem, ctx: BenchmarkContext) -> list[Request]:
        s, t = (LANGUAGES[x][1] for x in _pair(sample.direction))
        instruction = f"Translate the following {s} statements to {t}."
        rounds: list[Round] = []
        for src, tgt in sample.shots[: ctx.shots]:
            rounds += [Round("HUMAN", f"{instruction}\n{src}"), Round("BOT", tgt)]
        rounds.append(Round("HUMAN", f"{instruction}\n{sample.source}"))
        # a base model continues the pattern after its translation; stop at the next turn
        stop = ("\nTranslate the following",) if ctx.kind is ModelKind.BASE else ()
        params = GenerationParams(max_tokens=ctx.max_tokens or 256, stop=stop)
        return [GenerateRequest(rounds_to_prompt(rounds, ctx.kind), params)]

    def score(
        self, sample: FloresItem, responses: Sequence[Response], ctx: BenchmarkContext
    ) -> Score:
        import sacrebleu

        text = only_text(responses)
        pred = flores_postprocess(text)
        value = sacrebleu.sentence_bleu(pred, [sample.target]).score / 100
        if not pred:
            return Score(0.0, "", parse_failed=True, detail="empty translation")
        return Score(value, pred)
