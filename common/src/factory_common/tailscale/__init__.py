"""The Tailscale API v2 as the factory's packages speak to it.

Modules: ``api`` (the one client, used by the reconciler and analytics), ``models`` (the
API's JSON as pydantic models), ``errors``, ``auth`` (API token or OAuth client), ``retry``,
``hujson`` (the policy file's format). Importing this package has no side effects.
"""
