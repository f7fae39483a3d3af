#!/usr/bin/env bash
# Put Debian's docker-registry and busybox-static packages into ./debs for the image build.
# Containers here cannot reach the Debian mirrors, the host can: `apt-get download` needs no
# root and no installation. Idempotent: does nothing when both files are present.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p debs
have() { compgen -G "debs/$1_*.deb" >/dev/null; }
missing=()
for pkg in docker-registry busybox-static; do have "$pkg" || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
command -v apt-get >/dev/null || { echo "apt-get not found: put ${missing[*]} .deb files into $PWD/debs" >&2; exit 1; }
(cd debs && apt-get download "${missing[@]}" 2>/dev/null) || {
  echo "apt-get download ${missing[*]} failed; run 'apt-get update' first" >&2; exit 1; }
