#!/usr/bin/env bash
# Install the Debian 12 packages wiredup needs to build, test and benchmark,
# only those that are missing. Safe to run again; needs root (or sudo).
set -euo pipefail

PKGS=(
  build-essential cmake pkg-config
  librdkafka-dev libxxhash-dev libcjson-dev libutf8proc-dev
  libmicrohttpd-dev
  kcat python3-kafka
  gnuplot-nox
)

missing=()
for p in "${PKGS[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; else
    echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

echo "install-deps: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
