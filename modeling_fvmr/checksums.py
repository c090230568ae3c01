"""sha256 checksums of the files of a folder, recorded when it is written and verified when it is read.

Hashing reads every byte once (hashlib, in chunks: about 1-2 GB/s on one core), so verifying a
checkpoint or an index costs one sequential read of its files; nothing is kept in memory.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path


def file_sha256(path: str | os.PathLike) -> str:
    """Hex sha256 of a file's bytes (read in chunks)."""
    with open(path, "rb") as handle:
        return hashlib.file_digest(handle, "sha256").hexdigest()


def folder_checksums(folder: str | os.PathLike, names: list[str] | None = None) -> dict[str, str]:
    """{relative path: sha256} of `names` in `folder`, or of every file under it (sorted, recursive)."""
    folder = Path(folder)
    if names is None:
        names = sorted(path.relative_to(folder).as_posix() for path in folder.rglob("*") if path.is_file())
    return {name: file_sha256(folder / name) for name in names}


def verify_checksums(folder: str | os.PathLike, expected: dict[str, str], what: str) -> None:
    """ValueError naming the first file of `expected` that is missing from `folder` or whose bytes changed."""
    folder = Path(folder)
    for name, digest in expected.items():
        path = folder / name
        if not path.is_file():
            raise ValueError(f"{path} is missing: the {what} is incomplete.")
        if file_sha256(path) != digest:
            raise ValueError(f"{path} does not match its recorded checksum: the {what} was edited, truncated or damaged.")


__all__ = ["file_sha256", "folder_checksums", "verify_checksums"]
