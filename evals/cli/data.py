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
from evals.data_sources import DataSpec, files_under, verify
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
    usable: bool = True
    """False when the files are there but the loader refuses them (a data error) or their
    checksum differs: ``status`` exits 1. A setting that keeps a set from running here (a
    missing scorer dependency) is shown, but the data is fine."""


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
    data_dir = data_root(config, config_dir)
    rows = [status_of(name, line, data_dir)
            for name, line in _wanted(config, config_dir, suites, names)]
    out.print(f"data_dir: {data_dir}", highlight=False)
    _print(rows, data_dir)
    _closing(rows)
    sys.exit(0 if all(r.present and r.usable for r in rows) else 1)


def _closing(rows: Sequence[Status]) -> None:
    """One line for the sets ``evals data fetch`` can get, one for those it cannot."""
    broken = [r.benchmark for r in rows if r.present and not r.usable]
    if broken:
        console.print(f"present but not usable (see above): {', '.join(broken)}", soft_wrap=True,
                      highlight=False)
    missing = [r.benchmark for r in rows if not r.present]
    fetchable = [m for m in missing if (spec := _spec(m)) is not None and spec.remote]
    manual = [m for m in missing if m not in fetchable]
    if fetchable:
        console.print(f"missing: {', '.join(fetchable)}; get them with `evals data fetch "
                      f"{' '.join('-b ' + m for m in fetchable)}`", soft_wrap=True,
                      highlight=False)
    if manual:
        console.print(f"missing, by hand (see above): {', '.join(manual)}", soft_wrap=True,
                      highlight=False)
    if not missing and not broken:
        console.print(f"all {len(rows)} present", highlight=False)


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
    named = suites or list(dict.fromkeys(s for m in config.models for s in config.suites_for(m)))
    specs: list[SuiteSpec] = [load_suite(find_suite(s, config_dir)) for s in named]
    if not specs:
        raise ConfigError("no suites: pass --suite S or -b NAME, or list suites in evals.yaml")
    seen: dict[str, Any] = {}
    for spec in specs:
        for line in spec.benchmarks:
            seen.setdefault(line.name, line)
    return list(seen.items())


def _spec(name: str) -> DataSpec | None:
    from evals.benchmarks.base import spec_of  # data commands only: gate/report need none

    return spec_of(name)


def status_of(name: str, line: Any, data_dir: Path) -> Status:
    spec = _spec(name)
    if spec is None:
        items, problem, broken = _loads(name, line, data_dir)
        return Status(name, items is not None, "-", "-", items, None, "unknown", "-",
                      problem or "no registry entry", usable=not broken)
    if not spec.layouts:
        return Status(name, True, "-", "-", None, None, "-", spec.license, "needs no data")
    found = spec.locate(data_dir)
    if found is None and (items := _loads(name, line, data_dir)[0]) is not None:
        return Status(name, True, "bundled", "", items, spec.items, "-", spec.license,
                      "read from a copy an installed package ships (none under data_dir)")
    if found is None:
        from evals.data_sources import fetch_hint

        return Status(name, False, "-", "-", None, spec.items, "-", spec.license,
                      fetch_hint(name, spec))
    layout, path = found
    verdict, bad = verify(data_dir, files_under([path]))
    items, problem, broken = _loads(name, line, data_dir)
    action = problem or (f"checksum mismatch: {', '.join(bad[:3])}" if bad else "")
    return Status(name, True, layout.name, str(path), items, spec.items, verdict, spec.license,
                  action, usable=not broken and not bad)


def _loads(name: str, line: Any, data_dir: Path) -> tuple[int | None, str, bool]:
    """Items the benchmark's own loader reads, as a chat model and else as a base model (None
    and why when it cannot), and whether the reason is the data itself."""
    from evals.benchmarks import BENCHMARKS
    from evals.benchmarks.base import BenchmarkContext

    bench = BENCHMARKS.get(name)
    mode = (Mode(line.mode) if line is not None and line.mode else bench.modes[0])
    shots = line.shots if line is not None and line.shots is not None else bench.default_shots
    for kind in (ModelKind.CHAT, ModelKind.BASE):
        try:
            return len(bench.load(BenchmarkContext(data_dir, kind, mode, shots))), "", False
        except DataError as err:  # MissingDataError too: a required file of the layout
            return None, str(err), True
        except EvalsError:  # a setting of the run (model, scorer), not the data
            continue
    return None, "", False


def _print(rows: Sequence[Status], data_dir: Path) -> None:
    """Short columns in the table, where each set was found relative to data_dir last; what
    to do about a missing or broken set follows the table, one unwrapped line each, so paths
    and commands copy whole from a narrow terminal. Piped, the table is not squeezed."""
    wide = out if out.is_terminal else Console(soft_wrap=True, width=160)
    table = Table(box=None, pad_edge=False)
    for col in ("benchmark", "status", "items / expected", "checksum"):
        table.add_column(col, no_wrap=True, min_width=len(col))
    table.add_column("license", no_wrap=True, overflow="ellipsis", max_width=26)
    table.add_column("found at (layout)", overflow="fold")
    for r in rows:
        items = "-" if r.items is None else f"{r.items}"
        expected = "?" if r.expected is None else f"{r.expected}"
        state = ("[red]missing[/]" if not r.present else "[red]broken[/]" if not r.usable
                 else "[yellow]present[/]" if r.action else "[green]present[/]")
        where = (r.action if r.action == "needs no data" else
                 f"{_relative(r.path, data_dir)} ({r.layout})" if r.present and r.path else
                 f"({r.layout})" if r.present else "-")
        table.add_row(r.benchmark, state, f"{items} / {expected}", r.checksum, r.license, where)
    wide.print(table)
    for r in rows:
        if r.action and r.action != "needs no data":
            wide.print(f"{r.benchmark}: {r.action}", soft_wrap=True, highlight=False,
                       markup=False)
    sys.stdout.flush()  # before the closing lines on stderr


def _relative(path: str, data_dir: Path) -> str:
    if not path or path == "-":
        return ""
    try:
        return str(Path(path).relative_to(data_dir))
    except ValueError:
        return path
