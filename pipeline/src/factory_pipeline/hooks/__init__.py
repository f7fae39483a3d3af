"""Entry points of the repository's pre-commit hooks that need the factory's knowledge.

Each hook is a console script declared in pipeline/pyproject.toml and wired as a local
hook in .pre-commit-config.yaml, so `git commit` and `nox -s lint` run the same code.
Hooks only read the files they are given; they never touch the engine or the network.
"""
