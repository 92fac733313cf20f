"""CIBench (template subset), EN and ZH: Jupyter-style data-analysis tasks solved step by step
with a sandboxed IPython session; the InternLM2 report's "CIBench" (Table 16, Fig. 19).

Data: OpenCompass's ``cibench_dataset`` layout under ``<data_dir>/cibench/``:
``cibench_template/<module>/<task>.md`` (EN) or ``cibench_template_chinese/...`` (ZH), task
notebooks in jupytext markdown (``.ipynb`` notebooks with stored outputs are read too, and
preferred, as OpenCompass's loader reads only those), and the tasks' input files under
``datasources/data/`` (the notebooks open them as ``data/<name>``).

Loading follows OpenCompass 0.5.4 ``load_experiment``: each markdown cell is a step's question
(a ``Thought:`` paragraph split off, "Please use <modules> modules." / "请用 <modules> 模块."
appended from the notebook's ``modules`` metadata), each code cell its reference solution,
``step_types`` the metric of each step (exec / num / text / vis), and the gold output of a
step is its cell's image, else its last stdout or ``execute_result``.

The staged notebooks are the jupytext sources and hold no outputs, so the gold outputs are
made here the way the authors made theirs: the reference cells run once per task in the same
sandboxed IPython session the model gets (same libraries, same input files), at scoring time.
A task whose reference solution fails here is reported as not scorable, never as a failure.

Protocol (OpenCompass ``AgentInferencer(infer_mode='every')`` with CIBench's ``CIReAct`` and
lagent 0.1's ReAct protocol and IPython interpreter, as in CIBench's ``eval_cibench.py``):
one step's question per round; the model answers ``Thought: / Action: IPythonInterpreter /
Action Input: <code block>``; the code runs; a successful run ends the step, its response
(``Response:`` + lagent's formatted outputs, trimmed to 1,024 characters) is kept in the
history and the next step's question follows; an error, a reply without a parsable action or
an unknown action gets its error message back and another try, at most three calls a step
(then the step's answer is lagent's fixed apology). OpenCompass's prompt adapter folds every
system message into the next user message (the instruction before the first question, each
tool response before the next question, or after the last reply: after two failed tries
both error responses arrive together behind both replies); so do we. Images
are shown to the model as ``![fig-NNN](fig-NNN.png)`` links, as lagent shows saved figures.
Each call may generate 512 tokens.

State: sessions are not kept alive across rounds (hundreds of idle kernels with pandas and
matplotlib loaded while the engine runs); each round a fresh session replays the sample's
earlier cells (failed tries included, as the kernel ran them) and runs the new one. Measured
on the fixture task (tests/fixtures/cibench, 2 shared cores): spawning an isolated session and
starting IPython takes about 1.4 s, reading the CSV with pandas 0.49 s, drawing a figure
0.13 s, the other cells under 0.01 s; a whole replay of its four steps 2.1-2.2 s wall. A
seven-step task thus costs a few seconds a round, against kernels kept alive for every sample
of a batch at once. A cell that timed out is not replayed (lagent interrupts the kernel and
goes on; our session dies), so state it built before the interrupt is lost on replay.
Observations are remembered per sample and cell sequence, so ``score`` replays nothing in the
same process and uses what the model saw.

Scoring per ``CIBenchEvaluator.single_exp``: per step ``tool_rate`` (the interpreter was
called), ``executable`` (its last call ran without error), and by step type
``numeric_correct`` (the gold text equals, or is contained in, the ``execute_result`` block,
else the ``stdout`` block, of the step's successful call), ``text_score`` (ROUGE-1 F1 of the
first output block against the gold) and ``vis_sim`` (SSIM of the call's first figure, resized
to the gold's size, against the gold figure). OpenCompass's summary (``configs/summarizers/
groups/cibench.py`` and ``agent_bench.py``): each metric is the mean over the modules of the
module's step average, weighted by OpenCompass's per-module step counts (modules with no step
of that kind drop out); the CIBench number is the plain mean of executable, numeric_correct,
text_score and vis_sim. The per-task value (mean of its metrics) only serves the groups and
the stderr, which is therefore approximate.

Not scorable (excluded before any model call, counted in the ``not_scorable*`` secondaries):
tasks whose input files are missing under ``datasources/data/``, tasks importing a package
this venv lacks (seaborn, lightgbm, tensorflow here), and tasks that download NLTK data
(``nltk.download`` needs the network the sandbox does not have) unless NLTK data is installed
in a system location. With the staged data every EN and ZH template task needs an input file
or NLTK data, so none is scorable until OpenCompass's ``datasources`` are put in place; a
run then stops with a DataError saying so rather than reporting zeros.

Deviations: gold outputs are regenerated here (above); jupytext gives ``scipy_exp04`` (EN and
ZH, a CRLF file with a doubled blank line) an extra empty markdown cell that shifts its later
questions against their code in OpenCompass, our parser does not (it agrees with jupytext's
cells on the other 304 staged notebooks); the tool's stdout and stderr come back
as two blocks rather than as interleaved stream messages; ``!`` lines are disabled as lagent's
start code disables them; outputs longer than the session's per-field cap lose their tail
before lagent's head-and-tail trim.
"""
