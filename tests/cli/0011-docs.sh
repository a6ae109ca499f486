#!/usr/bin/env bash
# The documentation holds together: every relative link in README.md,
# CHANGELOG.md and docs/*.md points at a file or directory that exists, and
# every `page.md#anchor` (or `#anchor`) at a heading of that page (GitHub's
# heading slugs); the man page renders without a single warning.
# The link checker is first run on a page with known broken links, so that
# a checker which can no longer fail fails this test.
. "$(dirname "$0")/helpers.sh"

PY=${PY:-python3}
command -v "$PY" >/dev/null || { t_fail "$PY not found (needed to parse Markdown)"; t_done; }

# check_links ROOT FILE...: one line per broken link on stdout, exit 1 if any.
check_links() {
  "$PY" - "$@" <<'EOF'
import os, re, sys, urllib.parse

root = os.path.realpath(sys.argv[1])
files = sys.argv[2:]
fence = re.compile(r'^ {0,3}(```|~~~)')
heading = re.compile(r'^ {0,3}(#{1,6})[ \t]+(.*?)[ \t#]*$')
inline = re.compile(r'!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*<?([^()\s>]*(?:\([^()\s]*\)[^()\s>]*)*)>?(?:\s+"[^"]*")?\s*\)')
refdef = re.compile(r'^ {0,3}\[[^\]]+\]:\s*<?(\S+?)>?(?:\s+"[^"]*")?\s*$')
codespan = re.compile(r'(`+)(?:(?!\1).)*?\1')
scheme = re.compile(r'^[A-Za-z][A-Za-z0-9+.-]*:')

def lines_outside_code(path):
    """(line number, text) of the lines not inside fenced code blocks."""
    infence = None
    with open(path, encoding='utf-8') as f:
        for n, line in enumerate(f, 1):
            line = line.rstrip('\n')
            m = fence.match(line)
            if m:
                if infence is None:
                    infence = m.group(1)
                elif line.strip().startswith(infence):
                    infence = None
                continue
            if infence is None:
                yield n, line

def slug(text):
    """GitHub's anchor for a heading: rendered text, lower case, only
    letters, digits, '-', '_' and spaces kept, spaces to hyphens."""
    text = re.sub(r'!?\[([^\]]*)\]\([^)]*\)', r'\1', text)  # links: their text
    text = re.sub(r'<[^>]+>', '', text)                      # inline HTML
    text = text.replace('`', '').replace('*', '')
    text = text.strip().lower()
    text = ''.join(c for c in text if c.isalnum() or c in ' -_')
    return text.replace(' ', '-')

anchor_cache = {}
def anchors(path):
    if path not in anchor_cache:
        seen, out = {}, set()
        for _, line in lines_outside_code(path):
            m = heading.match(line)
            if not m:
                continue
            s = slug(m.group(2))
            k = seen.get(s, 0)
            seen[s] = k + 1
            out.add(s if k == 0 else '%s-%d' % (s, k))
        for _, line in lines_outside_code(path):  # explicit <a name|id="...">
            for a in re.findall(r'<a\s+(?:name|id)="([^"]+)"', line):
                out.add(a)
        anchor_cache[path] = out
    return anchor_cache[path]

bad = 0
for md in files:
    md_real = os.path.realpath(md)
    rel_md = os.path.relpath(md_real, root)
    for n, line in lines_outside_code(md):
        text = codespan.sub('', line)
        targets = [m.group(1) for m in inline.finditer(text)]
        m = refdef.match(text)
        if m:
            targets.append(m.group(1))
        for t in targets:
            if not t or scheme.match(t) or t.startswith('//'):
                continue  # external: not checked (no network in tests)
            path, _, frag = t.partition('#')
            path = urllib.parse.unquote(path)
            if path.startswith('/'):
                dest = os.path.join(root, path.lstrip('/'))
            elif path:
                dest = os.path.join(os.path.dirname(md_real), path)
            else:
                dest = md_real
            dest = os.path.normpath(dest)
            why = None
            if not os.path.exists(dest):
                why = 'no such file'
            elif os.path.relpath(dest, root).startswith('..'):
                why = 'outside the repository'
            elif frag and dest.endswith('.md'):
                if urllib.parse.unquote(frag) not in anchors(dest):
                    why = 'no heading with anchor #%s in %s' % (frag, os.path.relpath(dest, root))
            if why:
                print('%s:%d: (%s): %s' % (rel_md, n, t, why))
                bad += 1
sys.exit(1 if bad else 0)
EOF
}

# ---- the checker itself: a page with two broken links and two good ones
mkdir -p "$T_TMP/selftest/docs"
cat >"$T_TMP/selftest/docs/page.md" <<'EOF'
# A page

## Why each default (`0.2`)

[good](../README.md) and [good anchor](#why-each-default-02),
[missing file](nothere.md), ![missing image](gone.png),
[missing anchor](page.md#no-such-heading), `[in code](ignored.md)`.

```
[in a fence](ignored-too.md)
```
EOF
echo '# Readme' >"$T_TMP/selftest/README.md"
if check_links "$T_TMP/selftest" "$T_TMP/selftest/docs/page.md" >"$T_TMP/self.out"; then
  t_fail "link checker passed a page with broken links"
elif [ "$(wc -l <"$T_TMP/self.out")" -ne 3 ] ||
    ! grep -q 'nothere.md' "$T_TMP/self.out" || ! grep -q 'gone.png' "$T_TMP/self.out" ||
    ! grep -q '#no-such-heading' "$T_TMP/self.out"; then
  t_fail "link checker self-test: want exactly the 3 broken links, got: $(cat "$T_TMP/self.out")"
else
  t_pass "link checker finds broken files, images and anchors, and only those"
fi

# ---- the real pages
cd "$WD_SOURCE_DIR" || exit 1
pages=(README.md CHANGELOG.md docs/*.md)
for p in "${pages[@]}"; do
  [ -f "$p" ] || t_fail "$p: missing"
done
if check_links "$WD_SOURCE_DIR" "${pages[@]}" >"$T_TMP/links.out" 2>&1; then
  t_pass "every relative link and anchor in ${pages[*]} resolves"
else
  t_fail "broken links:
$(cat "$T_TMP/links.out")"
fi

# ---- the man page: no warning at the default width (80 off a terminal)
# nor on a narrow or a wide terminal. man is installed by
# scripts/install-deps.sh, so its absence is a failure, not a skip.
if ! command -v man >/dev/null; then
  t_fail "man not installed (scripts/install-deps.sh installs man-db and groff-base)"
else
  for width in default 60 132; do
    if [ "$width" = default ]; then
      LC_ALL=C.UTF-8 man --warnings -l docs/wiredup.1 >"$T_TMP/man.out" 2>"$T_TMP/man.err"
    else
      LC_ALL=C.UTF-8 MANWIDTH=$width man --warnings -l docs/wiredup.1 >"$T_TMP/man.out" 2>"$T_TMP/man.err"
    fi
    rc=$?
    if [ "$rc" -ne 0 ] || [ -s "$T_TMP/man.err" ]; then
      t_fail "man --warnings -l docs/wiredup.1 (width $width): exit $rc: $(head -c 800 "$T_TMP/man.err")"
    elif ! grep -q 'SYNOPSIS' "$T_TMP/man.out"; then
      t_fail "man page (width $width) rendered without a SYNOPSIS"
    else
      t_pass "man page renders without warnings (width $width)"
    fi
  done
fi
t_done
