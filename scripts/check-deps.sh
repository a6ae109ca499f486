#!/bin/sh
# Check that module dependencies run one way (STYLE.md section 1).
#   scripts/check-deps.sh [--dot] [ROOT]
#
# A module X is pipeline/X.c plus include/wiredup/X.h, and, when X has a
# private pipeline/X_int.h, that header and every pipeline/X_*.c (stream.c,
# stream_track.c, ...); any other .c without a header of its own (main.c,
# metrics_http.c, mock_broker_main.c) is a leaf module of its own name.
# X depends on Y when a file of X has `#include "wiredup/Y.h"`.
# Fails (exit 1) when
#   - the modules include each other in a loop (printed as a -> b -> c -> a);
#   - an algorithm stage (norm, shingle, minhash, simhash, lsh, cluster)
#     includes librdkafka or cJSON, itself or through a wiredup header.
# --dot prints the module graph in Graphviz dot form on stdout (edges on a
# loop in red, stages boxed); the checks still run and set the exit status.
# ROOT defaults to the source tree this script is in.
set -eu

dot=0
case ${1-} in
  --dot) dot=1; shift ;;
  -h|--help) sed -n '2,16p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
  -*) echo "check-deps: unknown option '$1' (--dot)" >&2; exit 2 ;;
esac
root=${1:-$(cd "$(dirname "$0")/.." && pwd)}
if [ ! -d "$root/pipeline" ] || [ ! -d "$root/include/wiredup" ]; then
  echo "check-deps: $root has no pipeline/ and include/wiredup/" >&2
  exit 2
fi

# shellcheck disable=SC2046 # file names have no spaces
awk -v dot="$dot" -v stages="norm shingle minhash simhash lsh cluster" '
function base(path,   b) { b = path; sub(/.*\//, "", b); sub(/\.[^.]*$/, "", b); return b }

# The module \p path belongs to: X for pipeline/X_int.h and for
# pipeline/X_*.c when X_int.h exists (the longest such X), else its base name.
function module_of(path,   b, m, best) {
  b = base(path)
  if (path ~ /_int\.h$/ && path !~ /\/wiredup\//) {
    sub(/_int$/, "", b)
    return b
  }
  best = b
  if (path ~ /\.c$/)
    for (m in private)
      if (index(b, m "_") == 1 && (best == b || length(m) > length(best)))
        best = m
  return best
}

BEGIN {
  for (i = 1; i < ARGC; i++)
    if (ARGV[i] ~ /_int\.h$/ && ARGV[i] !~ /\/wiredup\//) {
      m = base(ARGV[i])
      sub(/_int$/, "", m)
      private[m] = 1
    }
}

FNR == 1 {
  mod = module_of(FILENAME)
  files[++F] = FILENAME
  fmod[FILENAME] = mod
  hdr = FILENAME ~ /\.h$/
  if (!(mod in seen)) { seen[mod] = 1; names[++N] = mod }
}

# #include "wiredup/Y.h": an edge mod -> Y; from a header, also one the
# library check follows (including Y.h pulls in what Y.h includes).
/^[ \t]*#[ \t]*include[ \t]*"wiredup\/[^"]*\.h"/ {
  y = $0
  sub(/^[^"]*"wiredup\//, "", y)
  sub(/\.h".*/, "", y)
  if (y != mod) {
    edge[mod, y] = 1
    if (!(y in seen)) { seen[y] = 1; names[++N] = y }
  }
  inc[FILENAME, y] = 1
  next
}

# librdkafka or cJSON, however spelled (<librdkafka/rdkafka.h>,
# <cjson/cJSON.h>, "rdkafka_mock.h", ...)
/^[ \t]*#[ \t]*include[ \t]*[<"][^>"]*(rdkafka|[cC][jJ][sS][oO][nN])[^>"]*[>"]/ {
  match($0, /[<"][^>"]*[>"]/)
  s = substr($0, RSTART, RLENGTH)
  if (FILENAME in lib)
    lib[FILENAME] = lib[FILENAME] " " s
  else
    lib[FILENAME] = s
}

function dfs(u,   i, v) {
  color[u] = 1
  stack[++sp] = u
  for (i = 1; i <= N; i++) {
    v = names[i]
    if (!((u, v) in edge))
      continue
    if (color[v] == 1)
      loop_at(v)
    else if (!color[v])
      dfs(v)
  }
  sp--
  color[u] = 2
}

# The stack from v to its top, back to v, is a loop: print it from its
# smallest name, once.
function loop_at(v,   j, k, lo, n, c, s, t) {
  for (j = sp; stack[j] != v; j--)
    ;
  n = sp - j + 1
  lo = 0
  for (k = 1; k < n; k++)
    if (stack[j + k] < stack[j + lo])
      lo = k
  s = ""
  for (k = 0; k <= n; k++) {
    c = stack[j + (lo + k) % n]
    s = s (k ? " -> " : "") c
    if (k)
      red[t, c] = 1
    t = c
  }
  if (!(s in loops)) {
    loops[s] = 1
    printf "check-deps: module loop: %s\n", s > "/dev/stderr"
    bad++
  }
}

# Every wiredup header \p h.h pulls in, itself included; first[] remembers
# the header through which each was reached.
function reach(h, via,   i, y) {
  if (h in reached)
    return
  reached[h] = via
  for (i = 1; i <= N; i++) {
    y = names[i]
    if ((hdir "/" h ".h", y) in inc)
      reach(y, via)
  }
}

END {
  # sorted, so the output does not depend on awk or the file order
  for (i = 2; i <= N; i++)
    for (j = i; j > 1 && names[j - 1] > names[j]; j--) {
      t = names[j]; names[j] = names[j - 1]; names[j - 1] = t
    }

  sp = 0
  for (i = 1; i <= N; i++)
    if (!color[names[i]])
      dfs(names[i])

  ns = split(stages, st, " ")
  for (k = 1; k <= ns; k++) {
    m = st[k]
    isstage[m] = 1
    split("", reached)
    # its files: X.c, X.h and, with an X_int.h, the rest of the module
    no = 0
    own[++no] = pdir "/" m ".c"
    own[++no] = hdir "/" m ".h"
    for (f = 1; f <= F; f++)
      if (fmod[files[f]] == m && files[f] != own[1] && files[f] != own[2])
        own[++no] = files[f]
    for (o = 1; o <= no; o++) {
      if (own[o] in lib) {
        printf "check-deps: stage %s: %s includes %s\n", m, own[o], lib[own[o]] > "/dev/stderr"
        bad++
      }
      for (i = 1; i <= N; i++)
        if ((own[o], names[i]) in inc)
          reach(names[i], names[i])
    }
    for (i = 1; i <= N; i++) {
      y = names[i]
      if (y != m && (y in reached) && ((hdir "/" y ".h") in lib)) {
        printf "check-deps: stage %s: reaches %s through wiredup/%s.h (%s.h includes it)\n",
          m, lib[hdir "/" y ".h"], reached[y], y > "/dev/stderr"
        bad++
      }
    }
  }

  if (dot) {
    print "digraph wiredup {"
    print "  rankdir=BT;"
    print "  node [shape=ellipse, fontname=\"monospace\"];"
    for (i = 1; i <= N; i++)
      printf "  \"%s\"%s;\n", names[i], names[i] in isstage ? " [shape=box]" : ""
    for (i = 1; i <= N; i++)
      for (j = 1; j <= N; j++)
        if ((names[i], names[j]) in edge)
          printf "  \"%s\" -> \"%s\"%s;\n", names[i], names[j],
            (names[i], names[j]) in red ? " [color=red]" : ""
    print "}"
  }
  if (bad)
    exit 1
  if (!dot) {
    e = 0
    for (k in edge)
      e++
    printf "check-deps: ok: %d modules, %d dependencies, no loop; stages free of librdkafka and cJSON\n", N, e
  }
}
' pdir="$root/pipeline" hdir="$root/include/wiredup" \
  $(ls "$root"/pipeline/*.c "$root"/include/wiredup/*.h
    ls "$root"/pipeline/*_int.h 2>/dev/null || :)
