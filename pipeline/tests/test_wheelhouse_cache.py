"""The offline wheelhouse comes from the user cache once it is there: a CI job's fresh
workspace gets the very same files without asking the package index again."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from factory_pipeline.build import WHEELHOUSE, PipelineBuildError, prepare_wheelhouse

# a name no index has: any attempt to download it fails, which proves the cache was used
REQS = ["chocolate-factory-no-such-package-zz9==0.0.1"]
PYTHON = "3.11"


def _key() -> str:
    return hashlib.sha256("\n".join([PYTHON, *REQS]).encode()).hexdigest()


def _cached(cache: Path) -> Path:
    entry = cache / _key()[:16]
    entry.mkdir(parents=True)
    (entry / "demo-1.0-py3-none-any.whl").write_bytes(b"wheel bytes")
    (entry / ".stamp").write_text(_key() + "\n")
    return entry


def test_a_fresh_checkout_gets_the_cached_wheels_without_downloading(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    _cached(cache)
    checkout = tmp_path / "checkout"
    (checkout / WHEELHOUSE).mkdir(parents=True)
    (checkout / WHEELHOUSE / "stale-0.1-py3-none-any.whl").write_bytes(b"old")
    said: list[str] = []

    target = prepare_wheelhouse(checkout, REQS, PYTHON, said.append, cache)

    assert sorted(p.name for p in target.iterdir()) == [".stamp", "demo-1.0-py3-none-any.whl"]
    assert (target / "demo-1.0-py3-none-any.whl").read_bytes() == b"wheel bytes"
    assert not any("downloading" in line for line in said), said
    # a second call finds the checkout current and copies nothing
    said.clear()
    prepare_wheelhouse(checkout, REQS, PYTHON, said.append, cache)
    assert said == [f"wheelhouse {WHEELHOUSE} is current for Python {PYTHON}"]


def test_a_failed_download_leaves_no_half_wheelhouse_in_the_cache(tmp_path: Path) -> None:
    cache = tmp_path / "cache"
    with pytest.raises(PipelineBuildError, match="pip download"):
        prepare_wheelhouse(tmp_path / "checkout", REQS, PYTHON, lambda _: None, cache)
    assert list(cache.iterdir()) == []  # neither the entry nor its partial directory
    assert not (tmp_path / "checkout" / WHEELHOUSE).exists()
