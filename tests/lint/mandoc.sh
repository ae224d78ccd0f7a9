#!/bin/bash
# SPDX-License-Identifier: ISC
#
# mandoc: lints copilot-gw(1) and copilot-gw.conf(5) with `mandoc -Tlint
# -W warning` (any warning or error fails; style notes do not), and checks
# that the completion files parse: bash always, zsh and fish when they are
# installed. Exits 77 (skipped) when mandoc is not installed and nothing
# else failed.
#
# Environment: GW_SOURCE_DIR (the source tree; default: two levels above
# this script).
set -u

src=${GW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}

passed=0
failed=0
skipped=0

pass() { passed=$((passed + 1)); echo "ok    $*"; }
fail() { failed=$((failed + 1)); echo "FAIL  $*"; }
skip() { skipped=$((skipped + 1)); echo "skip  $*"; }

# run WHAT COMMAND...: passes if the command exits 0 and prints nothing.
run() {
	local what=$1 out rc

	shift
	out=$("$@" 2>&1)
	rc=$?
	if [[ $rc -eq 0 && -z $out ]]; then
		pass "$what"
	else
		fail "$what (exit $rc)"
		[[ -n $out ]] && printf '%s\n' "$out" | sed 's/^/      /'
	fi
}

have_mandoc=0
command -v mandoc >/dev/null 2>&1 && have_mandoc=1

for page in man/copilot-gw.1 man/copilot-gw.conf.5; do
	if [[ ! -r $src/$page ]]; then
		fail "$page: missing"
	elif ((have_mandoc)); then
		run "mandoc -Tlint -W warning $page" \
		    mandoc -Tlint -W warning "$src/$page"
	else
		skip "$page: mandoc is not installed"
	fi
done

run "bash -n completions/copilot-gw.bash" \
    bash -n "$src/completions/copilot-gw.bash"
run "completions/copilot-gw.bash registers a completion for copilot-gw" \
    bash -c 'source "$1" && complete -p copilot-gw >/dev/null' bash \
    "$src/completions/copilot-gw.bash"

if head -n 1 "$src/completions/_copilot-gw" | grep -qx '#compdef copilot-gw'
then
	pass "completions/_copilot-gw starts with '#compdef copilot-gw'"
else
	fail "completions/_copilot-gw must start with '#compdef copilot-gw'"
fi
if command -v zsh >/dev/null 2>&1; then
	run "zsh -n completions/_copilot-gw" \
	    zsh -n "$src/completions/_copilot-gw"
else
	skip "completions/_copilot-gw: zsh is not installed"
fi

if command -v fish >/dev/null 2>&1; then
	run "fish --no-execute completions/copilot-gw.fish" \
	    fish --no-execute "$src/completions/copilot-gw.fish"
else
	skip "completions/copilot-gw.fish: fish is not installed"
fi

echo "$passed passed, $failed failed, $skipped skipped"
if ((failed > 0)); then
	exit 1
fi
if ((!have_mandoc)); then
	exit 77
fi
exit 0
