"""The Tailscale provider and kind: the `Tailnet` document, the `tailscale:` sidecar extension,
planning of policy/devices/DNS/auth keys, and their execution through the API client
(``factory_common.tailscale.api``). It never talks to the Docker engine: what it needs to know
about sidecars (is the node in its state volume logged in, does its container exist) comes
from the Docker provider's snapshot (``providers/docker/node_state.py``).
"""
