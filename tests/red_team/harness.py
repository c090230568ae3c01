"""What every red-team case asserts: exit code 1, exactly one `fvmr COMMAND: error: ...` line on stderr
naming what was wrong, no traceback, and the watched outputs as they were (or absent)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from modeling_fvmr.cli import main

CLASSES = ("traceback", "silent", "lost")  # the three classes: what the case used to do


def snapshot(path: Path) -> object:
    """None when absent; the sha256 of a file; {relative path: sha256} of every file of a folder."""
    if not path.exists():
        return None
    if path.is_file():
        return hashlib.sha256(path.read_bytes()).hexdigest()
    return {str(p.relative_to(path)): hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(path.rglob("*")) if p.is_file()}


@dataclass
class Case:
    """One bad input: `setup(ctx)` returns the argv; `fragments` must all be in the error line; `watched`
    (names of ctx paths) must be unchanged afterwards (an absent one must stay absent)."""

    name: str
    kind: str  # one of CLASSES
    setup: Callable[["Context"], list[str]]
    fragments: tuple[str, ...]
    watched: tuple[str, ...] = ()
    patch: Callable | None = None  # (monkeypatch) -> None: e.g. a kill simulated at the final rename

    def __post_init__(self) -> None:
        assert self.kind in CLASSES, self.kind

    def __repr__(self) -> str:  # the pytest id
        return self.name


@dataclass
class Context:
    """Paths a case writes or watches, under its own temporary folder, plus the session fixtures."""

    tmp: Path
    fixtures: dict = field(default_factory=dict)

    def path(self, name: str) -> Path:
        return self.tmp / name

    def __getattr__(self, name: str):
        try:
            return self.fixtures[name]
        except KeyError:
            raise AttributeError(name) from None


def check_case(case: Case, ctx: Context, capsys, monkeypatch) -> str:
    """Run the case through `fvmr` in this process and assert the contract; returns the error line."""
    argv = [str(item) for item in case.setup(ctx)]
    command = argv[0]
    before = {name: snapshot(ctx.path(name)) for name in case.watched}
    capsys.readouterr()
    if case.patch is not None:
        case.patch(monkeypatch)
    code = main(argv)
    monkeypatch.undo()
    out, err = capsys.readouterr()
    assert "Traceback" not in err + out, err
    lines = [line for line in err.splitlines() if line.startswith(f"fvmr {command}: error:")]
    assert code == 1 and len(lines) == 1, f"exit {code}, stderr:\n{err[-3000:]}"
    (line,) = lines
    for fragment in case.fragments:
        assert fragment in line, f"{fragment!r} not in {line!r}"
    for name in case.watched:
        assert snapshot(ctx.path(name)) == before[name], f"{name} changed"
    return line
