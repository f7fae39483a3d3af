# The maintainer's verbs. Each recipe delegates to a nox session (noxfile.py), which is
# what Forgejo Actions run too. A bare `just` only lists the recipes; it changes nothing.

set shell := ["bash", "-euo", "pipefail", "-c"]

# List the recipes
default:
    @just --list

# Check the YAML under gitops/ (no secrets or engine needed)
validate:
    nox -s validate

# Show what deploy would change and why (exit 2 = changes pending)
plan *ARGS:
    nox -s plan -- {{ARGS}}

# Reconcile the local Docker engine (and tailnet) to gitops/
deploy *ARGS:
    nox -s deploy -- {{ARGS}}

# Report drift between gitops/ and what runs (exit 2 = drifted)
drift *ARGS:
    nox -s drift -- {{ARGS}}

# Remove the project's containers and networks, keep its volumes (`just down --remove-volume NAME` deletes one)
down *ARGS:
    nox -s down -- {{ARGS}}

# Build the mcp and analytics images (tags: commit SHA and branch)
build:
    nox -s build

# Push the built images to the private registry and verify their digests
push:
    nox -s push

# Run the pre-commit hooks over every file
lint:
    nox -s lint

# Run the whole test suite: mypy, every package's tests, e2e (needs a Docker engine; fails if any fails)
test *ARGS:
    status=0; nox -s typecheck || status=$?; nox -s tests e2e -- {{ARGS}} || status=$?; exit $status

# Run one package's tests (common, reconciler, pipeline, mcp, analytics) or e2e
test-package PACKAGE *ARGS:
    if [ "{{PACKAGE}}" = e2e ]; then nox -s e2e -- {{ARGS}}; else nox -s "tests-3.11(package='{{PACKAGE}}')" -- {{ARGS}}; fi

# Run the benchmarks and update bench/RESULTS.md
bench *ARGS:
    nox -s bench -- {{ARGS}}

# Garbage-collect the private registry (stops it for a few seconds; `just registry-gc --dry-run`)
registry-gc *ARGS:
    nox -s registry_gc -- {{ARGS}}

# Build the offline Debian base image used instead of pulling
base-image:
    bash scripts/build-base-image.sh

# Build the registry from Debian's docker-registry (for a machine that cannot pull registry:2.8)
registry-image:
    bash scripts/build-registry-image.sh

# Install what `just deploy` and `just test` need on Debian/Ubuntu (the script CI runs)
setup:
    bash .ci/provision

# Run the e2e tests against the real images/APIs (every nox session tagged e2e-real; pulls)
e2e-real *ARGS:
    nox -t e2e-real -- {{ARGS}}
