"""Run the benchmarks in bench/ and update their sections of bench/RESULTS.md.

    python bench/run.py            # every bench/*_bench.py
    python bench/run.py ansible    # only bench/ansible_bench.py

Each benchmark is its own script (`python bench/<name>_bench.py --write` works alone) that
measures itself side by side with a peer in one run and replaces its own section of
RESULTS.md; this runner only finds and runs them, and fails if any fails.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str]) -> int:
    available = {p.name.removesuffix("_bench.py"): p for p in sorted(HERE.glob("*_bench.py"))}
    wanted = argv or sorted(available)
    unknown = [name for name in wanted if name not in available]
    if unknown:
        print(f"unknown benchmark(s) {unknown}; available: {sorted(available)}", file=sys.stderr)
        return 2
    failed = []
    for name in wanted:
        print(f"== bench {name}", flush=True)
        if subprocess.run(
            [sys.executable, str(available[name]), "--write"], check=False
        ).returncode:
            failed.append(name)
    if failed:
        print(f"failed: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
