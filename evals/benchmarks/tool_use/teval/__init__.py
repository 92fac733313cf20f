"""T-Eval, tool utilization step by step (InternLM2 report Table 16): ``teval_en``, ``teval_zh``.

Follows OpenCompass 0.5.4: ``configs/datasets/teval/teval_{en,zh}_gen_1ac254.py``,
``datasets/teval`` (dataset, ``teval_postprocess``, evaluators), ``TEvalEvaluator`` and the
summarizer ``configs/summarizers/groups/teval.py``. Chat models only, generation, no shots.

- Data: T-Eval's eight subset files per language, each a JSON object of items with
  ``origin_prompt`` (a message list), ``ground_truth``, ``meta_data``/``meta`` and
  ``template``. Looked for in ``<data_dir>/teval/EN`` (``ZH``; OpenCompass's layout), then
  ``<data_dir>/teval`` (upstream's flat ``data/``), under OpenCompass's names
  (``instruct_v1.json``, ..., ``_zh`` suffix for Chinese), else under the 2024 release's
  ``_v2`` names. No hub download: the hub copy's layout is not the evaluated one.
- Prompt: the item's ``origin_prompt`` as the chat (OpenCompass's ``ChatInferencer``
  generates the last assistant turn after it); the ``function`` role of the v2 files becomes
  ``system``, where the v1 files put tool responses. Greedy, 1024 new tokens (T-Eval's own
  limit; OpenCompass takes the model config's ``max_out_len``).
- Scoring: ``teval_postprocess`` then the subset's evaluator (``teval.scoring``), per sample.
- Score: the summarizer's ``teval`` group, the naive mean of twelve subset metrics: instruct's
  format and argument-match metrics (each the mean of its string and JSON halves), the F1 of
  both planning subsets, reasoning's ``thought``, retrieval's ``name`` and understanding's
  ``args`` from the single-format subsets and from the joint JSON one, and review quality
  twice. So each of the six dimensions weighs one sixth; they are the secondary metrics, with
  the summarizer's rows (``<subset file>.<metric>``). Instruct and review means are rounded to
  four decimals as upstream rounds them. With ``--limit`` a subset may be absent: means are
  then over the subsets present (upstream would give NaN).
- Similarity (planning, ``thought``, ``args``): sentence-transformers, ``all-mpnet-base-v2``
  for English and ``thenlper/gte-large-zh`` for Chinese, as OpenCompass. The environment
  variable ``EVALS_TEVAL_SIMILARITY`` (or ``EVALS_TEVAL_SIMILARITY_EN`` / ``_ZH``, which win)
  names another model or a local folder, or ``lexical``: a bag-of-words cosine for machines
  without the model. Never chosen silently; its scores are not T-Eval's, so every metric that
  used it carries ``[lexical]`` in its name (the primary becomes ``overall[lexical]``) and each
  sample's detail names the similarity used.
- Parse failures: answers upstream cannot parse (no tool call in the template, bad JSON, no
  option letter) score what upstream gives them (0) and are flagged ``parse_failed``.
"""
