#!/usr/bin/env bash
# Configure and build one flavour of wiredup.
#   scripts/build.sh [release|asan] [BUILD_DIR]
# release: RelWithDebInfo, -Werror.  asan: AddressSanitizer + UBSan, -Werror.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
flavour=${1:-release}
case "$flavour" in
  release) dir=${2:-$here/build};      extra=() ;;
  asan)    dir=${2:-$here/build-asan}; extra=(-DWD_SANITIZE=address,undefined -DCMAKE_BUILD_TYPE=Debug) ;;
  *) echo "build.sh: unknown flavour '$flavour' (release|asan)" >&2; exit 2 ;;
esac
cmake -S "$here" -B "$dir" -DWD_WERROR=ON "${extra[@]}" >/dev/null
cmake --build "$dir" -j "$(nproc)" 2>&1 | grep -vE '^\[ *[0-9]+%\]' || true
test -x "$dir/wiredup"
