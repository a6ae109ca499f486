#!/usr/bin/env bash
# One command for a new user: install what is missing, build, run the demo
# (embedded Kafka mock cluster + bundled sample articles, clusters printed).
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
"$here/scripts/install-deps.sh"
"$here/scripts/build.sh" release "$here/build" >&2
exec "$here/build/wiredup" demo "$@"
