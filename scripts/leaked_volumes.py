"""`python scripts/leaked_volumes.py snapshot FILE` before the tests, `check FILE` after.

Why: a test container removed without `v=True` (or run with the SDK's `remove=True`)
leaves its image's VOLUMEs behind as unnamed, unlabelled volumes, one more on every
`just test`. `check` fails, naming them, when volumes that did not exist at the snapshot
are dangling (no container uses them) and carry no label: nothing this repository creates
on purpose looks like that. It removes nothing (on a shared engine they might be someone
else's); the fix is in the test that made them (reconciler.providers.docker.oneshot).
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path


def _volumes(*filters: str) -> set[str]:
    args = ["docker", "volume", "ls", "-q", *(f"--filter={f}" for f in filters)]
    out = subprocess.run(args, capture_output=True, text=True, check=True).stdout
    return set(out.split())


def main(argv: list[str]) -> int:
    if len(argv) != 2 or argv[0] not in ("snapshot", "check"):
        print(__doc__, file=sys.stderr)
        return 2
    step, path = argv[0], Path(argv[1])
    if step == "snapshot":
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(sorted(_volumes())))
        return 0
    before = set(json.loads(path.read_text()))
    new = sorted(_volumes("dangling=true") - before)
    leaked = []
    for name in new:
        inspect = subprocess.run(
            ["docker", "volume", "inspect", name], capture_output=True, text=True, check=False
        )
        if inspect.returncode == 0 and not (json.loads(inspect.stdout)[0].get("Labels") or {}):
            leaked.append(name)
    if leaked:
        print(
            f"the tests left {len(leaked)} unlabelled volume(s) no container uses: "
            f"{', '.join(leaked)}. A test container was removed without its anonymous "
            "volumes: use reconciler.providers.docker.oneshot.run_once or remove(v=True).",
            file=sys.stderr,
        )
        return 1
    print("no leaked volumes")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
