#!/bin/bash
# SPDX-License-Identifier: ISC
# The thread layers stay apart (style.md 2.1): proxy/ and tui/ include only
# src/ headers, never each other's; only src/main.c and src/cmd-*.c may
# include proxy/proxy.h or tui/tui.h, and no other proxy/ or tui/ header
# may be used outside its directory; tui/ never calls uv_* or curl_*, and
# proxy/ never calls curses.
set -u
cd "${GW_SOURCE_DIR:?}"
failed=0 passed=0
bad() { echo "not ok - $*"; failed=$((failed + 1)); }
good() { echo "ok - $*"; passed=$((passed + 1)); }

check_none() {	# description, grep output
	if [ -n "$2" ]; then bad "$1"; echo "$2" | sed 's/^/    /'
	else good "$1"; fi
}

proxy_headers=$(cd proxy && ls *.h 2>/dev/null | tr '\n' ' ')
tui_headers=$(cd tui 2>/dev/null && ls *.h 2>/dev/null | tr '\n' ' ')

out=""
for h in $tui_headers; do
	out+=$(grep -Hn "#include \"\(tui/\)\?$h\"" proxy/*.c proxy/*.h 2>/dev/null)
done
out+=$(grep -Hn '#include "tui/' proxy/*.[ch] 2>/dev/null)
check_none "proxy/ includes no tui/ header" "$out"

out=""
for h in $proxy_headers; do
	[ -d tui ] && out+=$(grep -Hn "#include \"\(proxy/\)\?$h\"" tui/*.[ch] 2>/dev/null)
done
[ -d tui ] && out+=$(grep -Hn '#include "proxy/' tui/*.[ch] 2>/dev/null)
check_none "tui/ includes no proxy/ header" "$out"

out=$(grep -Hn '#include "\(proxy\|tui\)/' src/*.[ch] |
    grep -v '^src/main\.c:\|^src/cmd-[a-z0-9-]*\.c:')
check_none "only src/main.c and src/cmd-*.c include proxy/ or tui/" "$out"

out=$(grep -Hn '#include "\(proxy\|tui\)/' src/*.[ch] |
    grep -v '"proxy/proxy\.h"\|"tui/tui\.h"')
check_none "src/ uses only proxy/proxy.h and tui/tui.h" "$out"

out=""
for h in $proxy_headers $tui_headers; do
	out+=$(grep -Hn "#include \"$h\"" src/*.[ch] 2>/dev/null)
done
check_none "src/ does not reach proxy/ or tui/ headers by bare name" "$out"

out=$(grep -Hn '\<\(uv\|curl\)_[a-z_]*(' tui/*.c 2>/dev/null)
check_none "tui/ calls no uv_* or curl_*" "$out"

out=$(grep -Hn '#include <\(n\)\?curses\.h>\|\<\(initscr\|endwin\|wrefresh\|newwin\)(' proxy/*.[ch] src/*.[ch] 2>/dev/null)
check_none "proxy/ and src/ call no curses" "$out"

out=$(grep -Hn '\<curl_[a-z_]*(' src/*.c | grep -v '^src/main\.c:\|^src/cmd-[a-z0-9-]*\.c:')
check_none "core src/ modules call no curl (the proxy owns it)" "$out"

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
