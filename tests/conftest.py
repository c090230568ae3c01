"""Shared fixtures: the real benchmark annotations in ../shared/data and small model pieces."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]


def shared_data_dir() -> Path:
    """../shared/data beside the repository, or $FVMR_SHARED_DATA. Missing data fails, never skips."""
    path = Path(os.environ.get("FVMR_SHARED_DATA", REPO_ROOT.parent / "shared" / "data"))
    if not (path / "charades_sta").is_dir():
        raise FileNotFoundError(f"Benchmark annotations not found at {path}; set FVMR_SHARED_DATA.")
    return path


@pytest.fixture(scope="session")
def shared_data() -> Path:
    return shared_data_dir()

