"""The tools, one module per domain; each module exposes `register(server, deps, runner)`."""
