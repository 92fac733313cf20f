"""``evals data status`` and ``evals data fetch``: what data the named suites need, what is
here, and getting the rest (see ``evals.data_sources`` and ``evals.fetch``)."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from evals.config import (
    DEFAULT_CONFIG,
    EvalsConfig,
    SuiteSpec,
    data_root,
    find_suite,
    load_config,
    load_suite,
)
from evals.data_sources import DataSpec, MissingDataError, files_under, verify
from evals.errors import ConfigError, DataError, EvalsError
from evals.records import Mode, ModelKind

console = Console(stderr=True)
out = Console(soft_wrap=True)


@dataclass(frozen=True)
class Status:
    """One benchmark's row of ``evals data status``."""

    benchmark: str
    present: bool
    layout: str
    path: str
    items: int | None
    expected: int | None
    checksum: str
    license: str
    action: str
    """What to do: the fetch command for a missing set, the problem for a broken one."""


@click.group()
def data() -> None:
    """What data the suites need, what is here, and fetching the rest."""


def _options(fn: Any) -> Any:
    fn = click.option("-c", "--config", "config_path", default=DEFAULT_CONFIG, show_default=True,
                      help="evals.yaml (its data_dir and suites).")(fn)
    fn = click.option("-s", "--suite", "suites", multiple=True,
                      help="A suite (name or file); default: evals.yaml's suites.")(fn)
    return click.option("-b", "--benchmark", "names", multiple=True,
                        help="A benchmark by name (instead of suites).")(fn)


@data.command()
@_options
def status(config_path: str, suites: tuple[str, ...], names: tuple[str, ...]) -> None:
    """A table per benchmark: where its data was found, items found against expected,
    checksums, license, and for what is missing the command that gets it. Exit 0 only when
    every benchmark named is present."""
    config, config_dir = _config(config_path)
    rows = [status_of(name, line, data_root(config, config_dir))
            for name, line in _wanted(config, config_dir, suites, names)]
    _print(rows)
    missing = [r.benchmark for r in rows if not r.present]
    if missing:
        console.print(f"missing: {', '.join(missing)}; fetch with `evals data fetch "
                      f"{' '.join('-b ' + m for m in missing)}`", soft_wrap=True)
    sys.exit(0 if not missing and all(r.checksum != "mismatch" for r in rows) else 1)


@data.command(name="fetch")
@_options
@click.option("--from", "source", type=click.Path(exists=True, file_okay=False, path_type=Path),
              help="An OpenCompass data/ folder: link its files in instead of downloading.")
@click.option("--copy", is_flag=True, help="With --from: copy instead of linking.")
def fetch_cmd(config_path: str, suites: tuple[str, ...], names: tuple[str, ...],
              source: Path | None, copy: bool) -> None:
    """Download what is missing from the pinned sources into data_dir, verified against the
    pinned sha256 (resumable: run it again after an interrupt); or --from an OpenCompass
    data/ folder."""
    from evals.fetch import fetch, link_from

    config, config_dir = _config(config_path)
    data_dir = data_root(config, config_dir)
    failed = []
    for name, _ in _wanted(config, config_dir, suites, names):
        spec = _spec(name)
        if spec is None:
            console.print(f"{name}: no data registry entry", soft_wrap=True)
            continue
        if spec.locate(data_dir) is not None and source is None and _verified(spec, data_dir):
            console.print(f"{name}: present")
            continue
        try:
            if source is not None:
                placed = link_from(name, spec, source, data_dir, copy)
                console.print(f"{name}: {len(placed)} path(s) from {source}" if placed
                              else f"{name}: not in {source} (no OpenCompass layout found)")
                continue
            got = fetch(name, spec, data_dir, _bar(name))
            console.print(f"{name}: {len(got.downloaded)} file(s) fetched, "
                          f"{len(got.present)} already present")
        except DataError as err:
            console.print(f"[red]error:[/] {err}", soft_wrap=True, highlight=False)
            failed.append(name)
    if failed:
        raise EvalsError(f"data fetch: {len(failed)} set(s) failed ({', '.join(failed)}); the "
                         "others are in place")


def _verified(spec: DataSpec, data_dir: Path) -> bool:
    found = spec.locate(data_dir)
    if found is None:
        return False
    layout, _ = found
    verdict, _ = verify(data_dir, files_under([data_dir / layout.root]))
    return verdict != "mismatch"


def _bar(name: str) -> Any:
    """A one-line progress display per file on a terminal; nothing when piped."""
    if not sys.stderr.isatty():
        return None

    def show(file: str, done: int, total: int | None) -> None:
        size = f"/{total / 1e6:.1f}" if total else ""
        end = "\n" if total is not None and done >= total else "\r"
        sys.stderr.write(f"{name}: {file} {done / 1e6:.1f}{size} MB{end}")
        sys.stderr.flush()

    return show


def _config(config_path: str) -> tuple[EvalsConfig, Path]:
    path = Path(config_path)
    if path.is_file():
        return load_config(path), path.resolve().parent
    if config_path != DEFAULT_CONFIG:
        raise ConfigError(f"{path}: not found; pass -c evals.yaml")
    return EvalsConfig.model_construct(models=[], suites=[]), Path.cwd()


def _wanted(config: EvalsConfig, config_dir: Path, suites: Sequence[str],
            names: Sequence[str]) -> list[tuple[str, Any]]:
    """(benchmark, its suite line or None), in suite order, each benchmark once."""
    from evals.benchmarks import BENCHMARKS

    if names:
        for n in names:
            BENCHMARKS.get(n)  # one line with a did-you-mean for a typo
        return [(n, None) for n in dict.fromkeys(names)]
    specs: list[SuiteSpec] = [load_suite(find_suite(s, config_dir))
                              for s in (suites or config.suites)]
    if not specs:
        raise ConfigError("no suites: pass --suite S or -b NAME, or list suites in evals.yaml")
    seen: dict[str, Any] = {}
    for spec in specs:
        for line in spec.benchmarks:
            seen.setdefault(line.name, line)
    return list(seen.items())


def _spec(name: str) -> DataSpec | None:
    from evals.benchmarks import BENCHMARKS

    spec = getattr(BENCHMARKS.get(name), "data", None)
    return spec if isinstance(spec, DataSpec) else None


def status_of(name: str, line: Any, data_dir: Path) -> Status:
    spec = _spec(name)
    if spec is None:
        return Status(name, _loads(name, line, data_dir)[0] is not None, "-", "-", None, None,
                      "unknown", "-", "no registry entry")
    if not spec.layouts:
        return Status(name, True, "-", "-", None, None, "-", spec.license, "needs no data")
    found = spec.locate(data_dir)
    if found is None:
        from evals.data_sources import fetch_hint

        return Status(name, False, "-", "-", None, spec.items, "-", spec.license,
                      fetch_hint(name, spec))
    layout, path = found
    verdict, bad = verify(data_dir, files_under([path]))
    items, problem = _loads(name, line, data_dir)
    action = problem or (f"checksum mismatch: {', '.join(bad[:3])}" if bad else "")
    return Status(name, items is not None, layout.name, str(path), items, spec.items, verdict,
                  spec.license, action)


def _loads(name: str, line: Any, data_dir: Path) -> tuple[int | None, str]:
    """Items the benchmark's own loader reads (None and why when it cannot)."""
    from evals.benchmarks import BENCHMARKS
    from evals.benchmarks.base import BenchmarkContext

    bench = BENCHMARKS.get(name)
    mode = (Mode(line.mode) if line is not None and line.mode else bench.modes[0])
    shots = line.shots if line is not None and line.shots is not None else bench.default_shots
    last: EvalsError | None = None
    for kind in (ModelKind.CHAT, ModelKind.BASE):
        try:
            return len(bench.load(BenchmarkContext(data_dir, kind, mode, shots))), ""
        except MissingDataError as err:
            return None, str(err)
        except EvalsError as err:
            last = err
    return None, str(last)


def _print(rows: Sequence[Status]) -> None:
    table = Table(title="data", show_lines=False)
    for col in ("benchmark", "status", "layout", "items / expected", "checksum", "license",
                "where / what to do"):
        table.add_column(col, overflow="fold")
    for r in rows:
        items = "-" if r.items is None else f"{r.items}"
        expected = "?" if r.expected is None else f"{r.expected}"
        state = "[green]present[/]" if r.present else "[red]missing[/]"
        table.add_row(r.benchmark, state, r.layout, f"{items} / {expected}", r.checksum,
                      r.license, r.action or r.path)
    out.print(table)
