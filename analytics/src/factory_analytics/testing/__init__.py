"""Test support shipped with factory_analytics so every package's tests can use it.

``factory_analytics.testing.seed`` writes a deterministic week of data (tailnet presence,
access lines, host and container samples, probe results) through the same store functions the
collectors use; the analytics service's own tests and the MCP server's contract tests compare
the API's and the tools' figures with figures computed from its generators. Nothing here is
imported by the service at run time.
"""
