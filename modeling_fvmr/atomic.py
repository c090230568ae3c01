"""Outputs that appear whole or not at all, and never silently replace an existing one.

A command writes into a hidden staging sibling (`.NAME.partial`, or `.NAME.partial.SUFFIX` for a file)
and renames it into place at the end; a kill leaves the old output (or nothing) and a stale staging
folder or file that the next run removes.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path


def check_output_folder(output: str | os.PathLike, overwrite: bool = False) -> Path:
    """`output` as a Path; ValueError if it is a file, or a non-empty folder while `overwrite` is False."""
    output = Path(output)
    if output.exists() and not output.is_dir():
        raise ValueError(f"{output} exists and is not a folder.")
    if output.is_dir() and any(output.iterdir()) and not overwrite:
        raise ValueError(f"{output} already exists and is not empty: choose another output folder or pass --overwrite.")
    return output


def staging_folder(output: Path) -> Path:
    """The hidden sibling an output folder is written into before it is renamed into place."""
    return output.with_name(f".{output.name}.partial")


def replace_folder(staging: Path, output: Path) -> None:
    """Rename `staging` to `output`; an existing `output` is moved aside first and removed after."""
    retired = output.with_name(f".{output.name}.old")
    shutil.rmtree(retired, ignore_errors=True)
    if output.exists():
        output.rename(retired)
    staging.rename(output)
    shutil.rmtree(retired, ignore_errors=True)


@contextlib.contextmanager
def atomic_folder(output: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield an empty staging folder; when the block succeeds it becomes `output`, else it is removed."""
    output = check_output_folder(output, overwrite)
    staging = staging_folder(output)
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True)
    try:
        yield staging
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    replace_folder(staging, output)


def check_output_file(output: str | os.PathLike, overwrite: bool = False) -> Path:
    """`output` as a Path; ValueError if it is a folder, an existing file while `overwrite` is False, or in a
    folder that does not exist."""
    output = Path(output)
    if output.is_dir():
        raise ValueError(f"{output} is a folder, not a file.")
    if output.exists() and not overwrite:
        raise ValueError(f"{output} already exists: choose another file or pass --overwrite.")
    if not output.parent.is_dir():
        raise FileNotFoundError(f"The folder of {output} does not exist.")
    return output


@contextlib.contextmanager
def atomic_file(output: str | os.PathLike, overwrite: bool = False) -> Iterator[Path]:
    """Yield a hidden sibling path (same suffix, so writers that infer the format from it work) to write;
    when the block succeeds it replaces `output`, else it is removed.

    ValueError before anything is written if `output` is a folder or exists while `overwrite` is False;
    FileNotFoundError if its folder does not exist.
    """
    output = check_output_file(output, overwrite)
    staging = output.with_name(f".{output.name}.partial{output.suffix}")
    staging.unlink(missing_ok=True)
    try:
        yield staging
    except BaseException:
        staging.unlink(missing_ok=True)
        raise
    os.replace(staging, output)


def publish_files(staging: Path, output: Path, last: str) -> None:
    """Move every file of the folder `staging` into the existing folder `output` (replacing files of the same
    names) and remove `staging`. `last` (e.g. config.json, what makes the folder loadable) is removed from
    `output` first and moved in last, so a kill in between leaves a folder that does not load, never a mix
    that does."""
    (output / last).unlink(missing_ok=True)
    names = sorted(path.name for path in staging.iterdir() if path.name != last) + [last]
    for name in names:
        os.replace(staging / name, output / name)
    shutil.rmtree(staging)


__all__ = ["atomic_file", "atomic_folder", "check_output_file", "check_output_folder", "publish_files", "replace_folder", "staging_folder"]
