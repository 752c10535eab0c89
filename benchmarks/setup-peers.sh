#!/usr/bin/env bash
# Installs the whole-process peers that benchmarks/ compares against (Debian packages):
# libvips-tools (`vips`) and ImageMagick (`convert`, `mogrify`), plus hyperfine.
# Not needed by the package or its tests.
set -euo pipefail
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
$sudo apt-get update -qq
$sudo apt-get install -y -qq libvips-tools imagemagick hyperfine >/dev/null
vips --version
convert -version | head -1
