"""The tailnet side of the factory: API client, HuJSON policy, devices, keys, sidecars.

Modules: ``api`` (the one Tailscale API v2 client, shared with analytics), ``models``,
``errors``, ``auth``, ``hujson``. Importing this package has no side effects.
"""
