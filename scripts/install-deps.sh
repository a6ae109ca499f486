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
  man-db groff-base
)
# Wanted by the test suite but not required: without them the fuzzing step
# (clang's libFuzzer: scripts/fuzz.sh) and the valgrind tests skip.
OPT_PKGS=(clang-14 libclang-rt-14-dev valgrind)

is_missing() {
  ! dpkg-query -W -f='${Status}' "$1" 2>/dev/null | grep -q 'install ok installed'
}
missing=() opt_missing=()
for p in "${PKGS[@]}"; do is_missing "$p" && missing+=("$p"); done
for p in "${OPT_PKGS[@]}"; do is_missing "$p" && opt_missing+=("$p"); done

if [ ${#missing[@]} -eq 0 ] && [ ${#opt_missing[@]} -eq 0 ]; then
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO=sudo; elif [ ${#missing[@]} -eq 0 ]; then
    echo "install-deps: not installing optional ${opt_missing[*]} (need root)" >&2; exit 0
  else
    echo "install-deps: need root to install: ${missing[*]}" >&2; exit 1
  fi
fi

export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing ${missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ ${#opt_missing[@]} -gt 0 ]; then
  echo "install-deps: installing optional ${opt_missing[*]}" >&2
  $SUDO apt-get install -y -qq --no-install-recommends "${opt_missing[@]}" >/dev/null ||
    echo "install-deps: could not install ${opt_missing[*]}: fuzzing/valgrind steps will skip" >&2
fi
