"""The results index: one SQLite file answering "every score of every checkpoint" without
rereading predictions.

It is derived data, rebuilt from run directories (``results.json`` and ``manifest.json``)
and refreshed incrementally: a run is re-read only when its files changed since it was
indexed, and runs whose directory is gone are dropped. Deleting the file loses nothing,
and an index written by another schema is rebuilt from the run directories on first use.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from evals.errors import ConfigError
from evals.results.rundir import RunDir, find_runs, training_order

INDEX_SCHEMA = 2
"""2: scores carry the full set's size and whether the run was sliced (``--limit``)."""
NOT_RUN = "not run"
"""The metric of a suite's benchmark that did not run (its data was missing): no value."""

DDL = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT);
CREATE TABLE IF NOT EXISTS runs (
    run_dir TEXT PRIMARY KEY, checkpoint TEXT NOT NULL, kind TEXT, stage TEXT, step INTEGER,
    tokens_seen INTEGER, suite TEXT, status TEXT, created TEXT, backend TEXT,
    fingerprint TEXT, git_commit TEXT, stamp TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS scores (
    run_dir TEXT NOT NULL REFERENCES runs(run_dir) ON DELETE CASCADE, benchmark TEXT NOT NULL,
    metric TEXT NOT NULL, is_primary INTEGER NOT NULL, value REAL, stderr REAL, n INTEGER,
    parse_failures INTEGER, total INTEGER, limited INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (run_dir, benchmark, metric));
CREATE TABLE IF NOT EXISTS dimensions (
    run_dir TEXT NOT NULL REFERENCES runs(run_dir) ON DELETE CASCADE, name TEXT NOT NULL,
    value REAL, PRIMARY KEY (run_dir, name));
CREATE INDEX IF NOT EXISTS scores_by_benchmark ON scores (benchmark, metric);
"""


@dataclass(frozen=True)
class RefreshStats:
    added: int
    updated: int
    unchanged: int
    removed: int


@dataclass(frozen=True)
class ScoreRow:
    """One score of one checkpoint, with where the checkpoint sits in training."""

    checkpoint: str
    kind: str
    stage: str
    step: int | None
    tokens_seen: int | None
    suite: str
    benchmark: str
    metric: str
    primary: bool
    value: float | None
    stderr: float | None
    n: int | None
    run_dir: str
    status: str = "complete"
    """The run's status: a row from an ``interrupted``, ``failed`` or ``running`` run holds
    partial results."""
    total: int | None = None
    """Items of the full set (None where the run did not record it)."""
    limited: bool = False
    """Scored on a slice (``--limit``): ``n`` of ``total``, not the full set's number."""

    @property
    def partial(self) -> bool:
        return self.status != "complete"


def default_index_path(output_dir: Path) -> Path:
    return output_dir / "index.sqlite"


@contextmanager
def _connect(db: Path) -> Iterator[sqlite3.Connection]:
    db.parent.mkdir(parents=True, exist_ok=True)
    conn = sqlite3.connect(db)
    try:
        conn.execute("PRAGMA foreign_keys = ON")
        conn.executescript(DDL)
        row = conn.execute("SELECT value FROM meta WHERE key = 'schema'").fetchone()
        if row is not None and row[0] != str(INDEX_SCHEMA):
            _rebuild(conn)
            row = None
        if row is None:
            conn.execute("INSERT INTO meta VALUES ('schema', ?)", (str(INDEX_SCHEMA),))
        yield conn
        conn.commit()
    except sqlite3.DatabaseError as err:
        raise ConfigError(f"{db}: not a usable index ({err}); delete it to rebuild") from None
    finally:
        conn.close()


def _rebuild(conn: sqlite3.Connection) -> None:
    """An index of another schema is derived data: drop it; the refresh that follows
    re-reads every run directory."""
    for table in ("scores", "dimensions", "runs", "meta"):
        conn.execute(f"DROP TABLE IF EXISTS {table}")
    conn.executescript(DDL)


def _stamp(run: RunDir) -> str:
    """Changes whenever the run's manifest or results are rewritten."""
    parts = []
    for name in ("manifest.json", "results.json"):
        p = run.path / name
        parts.append(f"{p.stat().st_mtime_ns}:{p.stat().st_size}" if p.is_file() else "-")
    return "|".join(parts)


def refresh_index(db: Path, roots: Sequence[Path]) -> RefreshStats:
    """Index every run under ``roots``; runs indexed earlier under these roots whose
    directories are gone are removed."""
    runs = find_runs(list(roots))
    added = updated = unchanged = 0
    with _connect(db) as conn:
        known = dict(conn.execute("SELECT run_dir, stamp FROM runs").fetchall())
        for run in runs:
            key, stamp = str(run.path.resolve()), _stamp(run)
            if known.get(key) == stamp:
                unchanged += 1
                continue
            conn.execute("DELETE FROM runs WHERE run_dir = ?", (key,))
            _insert(conn, run, key, stamp)
            added, updated = (added + 1, updated) if key not in known else (added, updated + 1)
        present = {str(r.path.resolve()) for r in runs}
        roots_abs = [str(r.resolve()) for r in roots]
        gone = [k for k in known if k not in present and any(k.startswith(r) for r in roots_abs)]
        conn.executemany("DELETE FROM runs WHERE run_dir = ?", [(k,) for k in gone])
    return RefreshStats(added, updated, unchanged, len(gone))


def _insert(conn: sqlite3.Connection, run: RunDir, key: str, stamp: str) -> None:
    m, ck = run.manifest, run.checkpoint
    conn.execute("INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)", (
        key, ck.name, ck.kind.value, ck.stage, ck.step, ck.tokens_seen, run.suite,
        m.get("status"), m.get("created"), m.get("backend"), m.get("model_fingerprint"),
        m.get("git_commit"), stamp))
    if not (run.path / "results.json").is_file():
        return
    rows: list[tuple[object, ...]] = []
    for r in run.results:
        size = (r.n, r.parse_failures, r.total, int(r.limited))
        rows.append((key, r.benchmark, r.primary.name, 1, r.primary.value, r.primary.stderr,
                     *size))
        rows += [(key, r.benchmark, s.name, 0, s.value, s.stderr, *size)
                 for s in r.secondary if s.name != r.primary.name]
    rows += [(key, s.benchmark, NOT_RUN, 1, None, None, 0, 0, None, 0) for s in run.skipped]
    conn.executemany("INSERT OR REPLACE INTO scores VALUES (?,?,?,?,?,?,?,?,?,?)", rows)
    conn.executemany("INSERT OR REPLACE INTO dimensions VALUES (?,?,?)",
                     [(key, d.name, d.value) for d in run.dimensions])


def query_scores(db: Path, *, benchmark: str | None = None, checkpoint: str | None = None,
                 suite: str | None = None, primary_only: bool = True) -> list[ScoreRow]:
    """Scores in training order (stage, then step / tokens seen, then name). A filter naming
    a benchmark, checkpoint or suite the index does not hold is a ConfigError with the
    closest indexed name, not an empty answer."""
    if not db.is_file():
        raise ConfigError(f"{db}: no index yet; run 'evals index' (or 'evals run') first")
    filters = (("benchmark", "s.benchmark", "scores", benchmark),
               ("checkpoint", "r.checkpoint", "runs", checkpoint),
               ("suite", "r.suite", "runs", suite))
    where, args = ["1 = 1"], []
    for _, column, _, value in filters:
        if value:
            where.append(f"{column} = ?")
            args.append(value)
    if primary_only:
        where.append("s.is_primary = 1")
    sql = ("SELECT r.checkpoint, r.kind, r.stage, r.step, r.tokens_seen, r.suite, s.benchmark, "
           "s.metric, s.is_primary, s.value, s.stderr, s.n, r.run_dir, r.status, s.total, "
           "s.limited FROM scores s JOIN runs r "
           f"USING (run_dir) WHERE {' AND '.join(where)}")
    with _connect(db) as conn:
        for what, column, table, value in filters:
            if value:
                _check_known(conn, db, what, column.split(".")[1], table, value)
        rows = [ScoreRow(checkpoint=c, kind=k, stage=st, step=sp, tokens_seen=t, suite=su,
                         benchmark=b, metric=m, primary=bool(p), value=v, stderr=e, n=n,
                         run_dir=rd, status=status or "unknown", total=total,
                         limited=bool(lim))
                for c, k, st, sp, t, su, b, m, p, v, e, n, rd, status, total, lim
                in conn.execute(sql, args)]
    return sorted(rows, key=lambda r: (training_order(r.stage, r.step, r.tokens_seen, r.checkpoint),
                                       r.benchmark, not r.primary, r.metric))



def _check_known(conn: sqlite3.Connection, db: Path, what: str, column: str, table: str,
                 value: str) -> None:
    """Raise a one-line ConfigError, with a did-you-mean, when no run in the index has
    ``value`` as its ``what`` (benchmark, checkpoint or suite)."""
    import difflib

    sql = f"SELECT 1 FROM {table} WHERE {column} = ? LIMIT 1"
    if conn.execute(sql, (value,)).fetchone() is not None:
        return
    known = sorted(str(v) for (v,) in conn.execute(
        f"SELECT DISTINCT {column} FROM {table} WHERE {column} IS NOT NULL"))
    if not known:
        raise ConfigError(f"no {what} {value!r} in the index {db}: it holds no {what} yet "
                          "(no run under the folders given has finished one)")
    by_lower = {k.lower(): k for k in known}
    close = difflib.get_close_matches(value.lower(), list(by_lower), n=1)
    hint = f"; did you mean {by_lower[close[0]]!r}?" if close else ""
    shown = ", ".join(known[:20]) + (f", … ({len(known) - 20} more)" if len(known) > 20 else "")
    raise ConfigError(f"no {what} {value!r} in the index {db}{hint} (indexed: {shown})")
