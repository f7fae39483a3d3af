#!/bin/sh
# Same argument rules as the upstream registry:2.8 entrypoint: a config path means
# `registry serve <path>`; a registry subcommand is passed to the binary; anything else runs as is.
set -e
case "$1" in
  *.yaml | *.yml) set -- registry serve "$@" ;;
  serve | garbage-collect | help | -*) set -- registry "$@" ;;
esac
exec "$@"
