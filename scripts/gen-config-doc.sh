#!/bin/sh
# gen-config-doc.sh - regenerate the configuration reference in
# docs/configuration.md from the property table in pipeline/config.c, via
# `wiredup config --doc`.
#
# Usage: scripts/gen-config-doc.sh [--check]
#   Replaces the lines between `<!-- config-reference:begin -->` and
#   `<!-- config-reference:end -->` (each alone on its line, exactly once).
#   --check  change nothing; exit 1 when the file is out of date (for CI).
# Environment:
#   WIREDUP  the wiredup binary (default: build/wiredup under the repo root)
#   DOC      the file to update (default: docs/configuration.md under the
#            repo root)
# Exit status: 0 done / up to date, 1 out of date (--check), 2 error.
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
WIREDUP=${WIREDUP:-$root/build/wiredup}
DOC=${DOC:-$root/docs/configuration.md}
begin='<!-- config-reference:begin -->'
end='<!-- config-reference:end -->'

die() {
  echo "gen-config-doc: $*" >&2
  exit 2
}

check=0
case "${1:-}" in
  --check) check=1 ;;
  "") ;;
  -h | --help)
    sed -n '2,14s/^# \{0,1\}//p' "$0"
    exit 0
    ;;
  *) die "unknown argument '$1' (usage: $0 [--check])" ;;
esac
[ $# -le 1 ] || die "too many arguments (usage: $0 [--check])"

[ -x "$WIREDUP" ] || die "$WIREDUP: no such executable (build first, or set WIREDUP)"
[ -f "$DOC" ] || die "$DOC: no such file"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM

"$WIREDUP" config --doc >"$tmp/doc" || die "'$WIREDUP config --doc' failed"
[ -s "$tmp/doc" ] || die "'$WIREDUP config --doc' printed nothing"

# Marker lines match with trailing blanks (and a CR) ignored. The awk program
# checks that each marker appears exactly once and in order, then rewrites
# the region: marker, blank line, generated text, blank line, marker.
awk -v docfile="$tmp/doc" -v b="$begin" -v e="$end" '
  function bare(s) { sub(/[ \t\r]+$/, "", s); return s }
  { lines[NR] = $0; k = bare($0) }
  k == b { nb++; bl = NR }
  k == e { ne++; el = NR }
  END {
    if (nb != 1 || ne != 1) {
      printf "found %d begin and %d end marker lines, need exactly one each\n",
             nb, ne > "/dev/stderr"
      exit 3
    }
    if (bl > el) {
      print "the end marker comes before the begin marker" > "/dev/stderr"
      exit 3
    }
    for (i = 1; i <= bl; i++) print lines[i]
    print ""
    while ((getline line < docfile) > 0) print line
    print ""
    for (i = el; i <= NR; i++) print lines[i]
  }' "$DOC" >"$tmp/new" || die "$DOC: cannot place the reference (see above)"

if cmp -s "$DOC" "$tmp/new"; then
  [ "$check" = 1 ] || echo "gen-config-doc: $DOC is up to date"
  exit 0
fi
if [ "$check" = 1 ]; then
  echo "gen-config-doc: $DOC is out of date; run scripts/gen-config-doc.sh" >&2
  diff -u "$DOC" "$tmp/new" >&2 || true
  exit 1
fi
# Write in place (cat, not mv) so the file keeps its mode and any links.
cat "$tmp/new" >"$DOC"
echo "gen-config-doc: updated $DOC"
