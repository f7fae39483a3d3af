#!/usr/bin/env bash
# Put Debian's python3-yaml (and libyaml) into ./debs for the stand-in build: containers here
# cannot reach the Debian mirrors, the host can. Idempotent.
set -euo pipefail
cd "$(dirname "$0")"
mkdir -p debs
missing=()
for pkg in python3-yaml libyaml-0-2; do compgen -G "debs/${pkg}_*.deb" >/dev/null || missing+=("$pkg"); done
[ ${#missing[@]} -eq 0 ] && exit 0
(cd debs && apt-get download "${missing[@]}" >/dev/null 2>&1) || {
  echo "apt-get download ${missing[*]} failed; run 'apt-get update' first" >&2; exit 1; }
