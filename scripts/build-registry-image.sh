#!/usr/bin/env bash
# Build the private registry from Debian's `docker-registry` package (distribution 2.8.2,
# images/registry/) on the offline base, for a machine that cannot pull `registry:2.8`.
# It is the same registry program, not a stand-in; the tests run it too. Idempotent: does
# nothing when the tag exists. Prints the line that makes later deploys use it.
set -euo pipefail
cd "$(dirname "$0")/.."

tag="${FACTORY_REGISTRY_IMAGE:-chocolate-factory/registry:2.8-debian}"
base="${FACTORY_BASE_IMAGE:-chocolate-factory/base:bookworm}"
if ! docker image inspect "$tag" >/dev/null 2>&1; then
  bash scripts/build-base-image.sh
  bash images/registry/fetch-debs.sh
  docker build -q -t "$tag" --build-arg "BASE_IMAGE=$base" images/registry >/dev/null
  echo "built $tag (Debian's docker-registry on $base)"
else
  echo "registry image $tag already present"
fi
cat <<TEXT
To deploy it instead of registry:2.8 on this machine, put into gitops/.local/overrides.yaml
(git-ignored; plan and deploy then say which overrides are in force):
  images:
    registry: $tag
TEXT
