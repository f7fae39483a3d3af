#!/usr/bin/env bash
# Build the offline base image that tests and local builds use instead of pulling.
#
# Users of the stack get the real upstream images (python:3.12-slim, registry:2.8, ...);
# a machine that cannot pull (CI, air-gapped hosts) builds this Debian bookworm base
# with debootstrap once and reuses it by tag. Idempotent: does nothing when the tag exists.
set -euo pipefail

tag="${FACTORY_BASE_IMAGE:-chocolate-factory/base:bookworm}"
cache="${FACTORY_BASE_CACHE:-/var/cache/chocolate-factory}"

if docker image inspect "$tag" >/dev/null 2>&1; then
  echo "base image $tag already present"
  exit 0
fi
command -v debootstrap >/dev/null || { echo "debootstrap is missing: apt-get install -y debootstrap" >&2; exit 1; }

rootfs="$cache/rootfs-bookworm"
if [ ! -x "$rootfs/usr/bin/python3" ]; then
  rm -rf "$rootfs"
  mkdir -p "$cache"
  echo "debootstrap bookworm into $rootfs (about a minute)"
  debootstrap --variant=minbase --include=python3,python3-venv,ca-certificates \
    bookworm "$rootfs" >"$cache/debootstrap.log" 2>&1 || {
      tail -n 30 "$cache/debootstrap.log" >&2; exit 1; }
fi
tar -C "$rootfs" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' - "$tag" >/dev/null
echo "built $tag"
