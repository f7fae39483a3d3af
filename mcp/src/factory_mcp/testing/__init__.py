"""Stand-ins for the services this server reads, for tests and the bench.

They are named stand-ins: they reproduce the documented shapes and failure modes of the
factory API and the analytics API (analytics/API.md); they are not
those services.
"""
