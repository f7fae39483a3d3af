"""Code two or more of the factory's packages share, kept in one place instead of copied.

- :mod:`factory_common.env_secrets`: a secret from ``NAME`` or the file ``NAME_FILE``
  (the reconciler's Tailscale credentials, analytics' and the MCP server's tokens).
- :mod:`factory_common.tailscale`: the Tailscale API v2 client, its models and errors, and
  HuJSON (the policy file's format).

Nothing here imports the engine (``reconciler``), docker or rich: the service images carry
this package and not the engine.
"""
