"""Time from `evals run` on a suite whose data folder is empty to its one-line error, offline
(HF_HUB_OFFLINE=1) and with the network variables unset: the loaders read local files only,
so both should take the CLI's start-up time and no more (issue 20 measured ~25 s of hub
retries per missing set before the registry).

    .venv/bin/python bench/missing_data.py [--suite internlm2_base]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def once(suite: str, offline: bool) -> tuple[float, int, str]:
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "data").mkdir()
        cfg = root / "evals.yaml"
        cfg.write_text(f"data_dir: {root / 'data'}\noutput_dir: {root / 'out'}\n"
                       "models:\n  - {name: m, path: /ckpt/m, kind: base, stage: base}\n"
                       f"suites: [{REPO / 'suites' / (suite + '.yaml')}]\n"
                       "runner: {backend: mock}\n")
        env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "EVALS_"))}
        if offline:
            env["HF_HUB_OFFLINE"] = "1"
        started = time.perf_counter()
        done = subprocess.run([str(Path(sys.executable).parent / "evals"), "run", "-c", str(cfg)],
                              env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        lines = [x for x in done.stderr.splitlines() if x.startswith("error:")]
        return seconds, done.returncode, lines[0][:100] if lines else done.stderr[-200:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--suite", default="internlm2_base")
    args = parser.parse_args()
    for offline in (True, False):
        seconds, code, line = once(args.suite, offline)
        print(f"{'offline' if offline else 'online '}: {seconds:5.2f} s, exit {code}: {line}")


if __name__ == "__main__":
    main()
