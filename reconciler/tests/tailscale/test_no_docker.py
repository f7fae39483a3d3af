"""The Tailscale provider never talks to the Docker engine: what it needs about sidecars (node
logged in, container present) comes from the Docker provider's snapshot. So its whole module
graph imports without the docker SDK."""

from __future__ import annotations

import subprocess
import sys
import textwrap


def test_the_tailscale_provider_imports_with_docker_unavailable():
    script = textwrap.dedent(
        """
        import importlib.abc, sys

        class NoDocker(importlib.abc.MetaPathFinder):
            def find_spec(self, name, path=None, target=None):
                if name == "docker" or name.startswith("docker."):
                    raise ImportError(f"docker is unavailable here ({name})")
                return None

        sys.meta_path.insert(0, NoDocker())
        import reconciler.providers.tailscale.kind
        import reconciler.providers.tailscale.planning
        import reconciler.providers.tailscale.provider
        assert not any(m == "docker" or m.startswith("docker.") for m in sys.modules)
        """
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=False
    )
    assert done.returncode == 0, done.stderr
