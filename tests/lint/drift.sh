#!/bin/bash
# SPDX-License-Identifier: ISC
#
# drift: the documentation and the completions against the binary (style
# §2.13). Every command path, subcommand word and long option printed by
# `copilot-gw help --list-commands` must appear in copilot-gw(1), in that
# command's entry of its COMMANDS list; be offered by the bash completion
# (which is run); and appear in the zsh and fish completion files. The man
# page must have no entry for a command that does not exist. Every config
# key printed by `copilot-gw config show --json` must have an item in
# copilot-gw.conf(5) that names its environment variable and gives its
# default as `config show` prints it, and there must be no item for a key
# that does not exist. Each failure names the word and the file; the last
# line counts the checks.
#
# Environment: GW_BIN (the binary, required), GW_SOURCE_DIR (the source
# tree; default: two levels above this script).
set -u

src=${GW_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
bin=${GW_BIN:-}

man1=man/copilot-gw.1
man5=man/copilot-gw.conf.5
bashc=completions/copilot-gw.bash
zshc=completions/_copilot-gw
fishc=completions/copilot-gw.fish

passed=0
failed=0
tmp=$(mktemp -d "${TMPDIR:-/tmp}/gw-drift.XXXXXX") || exit 1
trap 'rm -rf "$tmp"' EXIT

pass() { passed=$((passed + 1)); }
fail() { failed=$((failed + 1)); printf 'drift: %s\n' "$*"; }

# Escapes a word for use in an extended regular expression.
re() { printf '%s' "$1" | sed 's/[][\.*^$(){}+?|/]/\\&/g'; }

# has FILE ERE: the file has a line matching the pattern.
has() { grep -Eq -- "$2" "$1"; }

if [[ -z $bin || ! -x $bin ]]; then
	echo "drift: GW_BIN ('$bin') is not an executable" >&2
	exit 1
fi
for f in "$man1" "$man5" "$bashc" "$zshc" "$fishc"; do
	if [[ ! -r $src/$f ]]; then
		echo "drift: $f: missing (GW_SOURCE_DIR=$src)" >&2
		exit 1
	fi
done

if ! "$bin" help --list-commands >"$tmp/list" 2>"$tmp/err" ||
    [[ ! -s $tmp/list ]]; then
	echo "drift: '$bin help --list-commands' failed:" >&2
	cat "$tmp/err" >&2
	exit 1
fi

# The COMMANDS section of copilot-gw(1) as "words<TAB>text of the entry"
# lines. An entry starts at ".It Ic words ..." or at ".It Xo" followed by
# ".Ic words ..."; its words are the leading lower-case arguments.
awk '
function start(line,	n, f, i, w) {
	n = split(line, f, /[ \t]+/)
	w = ""
	for (i = 2; i <= n; i++) {
		if (f[i] !~ /^[a-z][a-z0-9-]*$/)
			break
		w = w (w == "" ? "" : " ") f[i]
	}
	if (cur != "")
		print cur "\t" text
	cur = w
	text = ""
}
/^\.Sh / {
	if (in_cmds && cur != "")
		print cur "\t" text
	in_cmds = ($0 == ".Sh COMMANDS")
	cur = ""
	prev = ""
	next
}
!in_cmds { next }
/^\.It Ic / { sub(/^\.It /, ""); start($0); prev = ""; next }
/^\.Ic / && prev == ".It Xo" { start($0); prev = ""; next }
{ prev = $0; if (cur != "") text = text " " $0 }
END { if (in_cmds && cur != "") print cur "\t" text }
' "$src/$man1" >"$tmp/entries"

# The command paths the binary knows, for the reverse check.
cut -f1 "$tmp/list" | sed '/^$/d' >"$tmp/paths"

# Checks one command path or its options in copilot-gw(1).
check_man1() {
	local words=$1 opts=$2 text o what

	if [[ -z $words ]]; then
		what="global option"
		text=$(cat "$src/$man1")
	else
		what="option of '$words'"
		# A command with subcommands is documented by its subcommands.
		text=$(awk -F'\t' -v w="$words" \
		    '$1 == w || index($1, w " ") == 1 { print $2 }' \
		    "$tmp/entries")
		if [[ -z $text ]] && ! grep -q "^$(re "$words")"$'\t' \
		    "$tmp/entries"; then
			fail "$man1: no COMMANDS entry for '$words'"
		else
			pass
		fi
	fi
	for o in $opts; do
		if grep -Eq -- "(Fl -|\\\\-\\\\-|--)$(re "${o#--}")(\$|[^A-Za-z0-9_-])" \
		    <<<"$text"; then
			pass
		else
			fail "$man1: $what '$o' is missing"
		fi
	done
}

# Prints what the bash completion offers for a command line that ends at
# the cursor, by calling the function the file registers for copilot-gw.
bash_offers() {
	(
		COMPREPLY=()
		source "$src/$bashc" >/dev/null 2>&1 || exit 1
		func=$(complete -p copilot-gw 2>/dev/null |
		    sed -n 's/.*-F \([^ ]*\).*/\1/p')
		[[ -n $func ]] || exit 1
		COMP_LINE=$1
		COMP_POINT=${#1}
		read -r -a COMP_WORDS <<<"$1"
		[[ $1 == *" " ]] && COMP_WORDS+=("")
		COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
		COMP_TYPE=9
		COMP_KEY=9
		"$func" copilot-gw "${COMP_WORDS[COMP_CWORD]}" \
		    "${COMP_WORDS[COMP_CWORD - 1]}" >/dev/null 2>&1
		printf '%s\n' "${COMPREPLY[@]}"
	)
}

# Checks one command path and its options in the bash completion, by
# asking it: each word must be offered after the words before it, and
# each option after the whole path.
check_bash() {
	local words=$1 opts=$2 w o before="copilot-gw " what offers

	for w in $words; do
		if bash_offers "$before" | grep -Fxq -- "$w"; then
			pass
		else
			fail "$bashc: command word '$w' is not offered after '$before'"
		fi
		before="$before$w "
	done
	what=${words:+"option of '$words'"}
	what=${what:-"global option"}
	offers=$(bash_offers "$before-")
	for o in $opts; do
		if grep -Fxq -- "$o" <<<"$offers"; then
			pass
		else
			fail "$bashc: $what '$o' is not offered after '$before'"
		fi
	done
}

# Checks one command path and its options in the zsh or fish completion
# file. Comments do not count. A command word must be offered, not just
# mentioned: in zsh as "word:description" or a "word)" case, in fish as an
# argument of -a or in a "set" list. An option is "--option" in zsh and
# "-l option" in fish.
check_static() {
	local f=$1 words=$2 opts=$3 w o pat what

	grep -v '^[[:space:]]*#' "$src/$f" >"$tmp/nocomments"
	for w in $words; do
		if [[ $f == "$zshc" ]]; then
			pat="(^|[^A-Za-z0-9_-])$(re "$w")(:|\))"
		else
			pat="((-a|--arguments)[[:space:]]+['\"]?([^'\"]*[[:space:]])?|^[[:space:]]*set[[:space:]].*[[:space:]])$(re "$w")(\$|['\"[:space:]])"
		fi
		if has "$tmp/nocomments" "$pat"; then
			pass
		else
			fail "$f: command word '$w' (of '$words') is missing"
		fi
	done
	what=${words:+"option of '$words'"}
	what=${what:-"global option"}
	for o in $opts; do
		if [[ $f == "$fishc" ]]; then
			pat="(^|[^A-Za-z0-9_-])(-l|--long-option)[[:space:]]+['\"]?$(re "${o#--}")(\$|[^A-Za-z0-9_-])"
		else
			pat="(^|[^A-Za-z0-9_-])$(re "$o")(\$|[^A-Za-z0-9_-])"
		fi
		if has "$tmp/nocomments" "$pat"; then
			pass
		else
			fail "$f: $what '$o' is missing"
		fi
	done
}

if [[ -z $(bash_offers "copilot-gw ") ]]; then
	fail "$bashc: offers nothing after 'copilot-gw ' (does it register" \
	    "a function with 'complete -F'?)"
fi

# A tab is whitespace to read(1), which would drop the empty first field.
while IFS= read -r line; do
	words=${line%%$'\t'*}
	opts=${line#*$'\t'}
	check_man1 "$words" "$opts"
	check_bash "$words" "$opts"
	check_static "$zshc" "$words" "$opts"
	check_static "$fishc" "$words" "$opts"
done <"$tmp/list"

# The reverse: every COMMANDS entry of copilot-gw(1) is a real command.
while IFS=$'\t' read -r words _; do
	if grep -Fxq -- "$words" "$tmp/paths"; then
		pass
	else
		fail "$man1: COMMANDS documents '$words', which is not a command"
	fi
done <"$tmp/entries"

# Config keys: run with no COPILOT_GW_* variables so that every value shown
# is the default.
if ! env $(env | sed -n 's/^\(COPILOT_GW_[A-Za-z0-9_]*\)=.*/-u \1/p') \
    "$bin" --home "$tmp/home" config show --json >"$tmp/config.json" \
    2>"$tmp/err"; then
	echo "drift: '$bin config show --json' failed:" >&2
	cat "$tmp/err" >&2
	exit 1
fi
# One "key US value US env" line per key, with the unit separator (0x1f):
# read(1) would merge tabs around an empty value.
us=$'\x1f'
if command -v python3 >/dev/null 2>&1; then
	python3 -c '
import json, sys
for k, v in json.load(sys.stdin).items():
    print("%s\x1f%s\x1f%s" % (k, v.get("value", ""), v.get("env", "")))
' <"$tmp/config.json" >"$tmp/keys"
else
	jq -r 'to_entries[] | "\(.key)\u001f\(.value.value)\u001f\(.value.env)"' \
	    <"$tmp/config.json" >"$tmp/keys"
fi
if [[ ! -s $tmp/keys ]]; then
	echo "drift: no config keys in the output of 'config show --json'" >&2
	exit 1
fi

# The ".It Ic KEY" items of copilot-gw.conf(5) as "key<TAB>text" lines.
awk '
/^\.It Ic [a-z0-9_]+\.[a-z0-9_.]+( |$)/ {
	if (cur != "")
		print cur "\t" text
	cur = $3
	text = ""
	next
}
/^\.(It|El|Sh|Ss)( |$)/ {
	if (cur != "")
		print cur "\t" text
	cur = ""
	next
}
{ if (cur != "") text = text " " $0 }
END { if (cur != "") print cur "\t" text }
' "$src/$man5" >"$tmp/items"

while IFS=$us read -r key value envname; do
	text=$(awk -F'\t' -v k="$key" '$1 == k { print $2 }' "$tmp/items")
	if [[ -z $text ]] && ! grep -q "^$(re "$key")"$'\t' "$tmp/items"; then
		fail "$man5: config key '$key' has no '.It Ic $key' item"
		continue
	fi
	pass
	if grep -Eq -- "(^|[^A-Za-z0-9_])$(re "$envname")(\$|[^A-Za-z0-9_])" \
	    <<<"$text"; then
		pass
	else
		fail "$man5: '$key' does not name its variable $envname"
	fi
	if [[ -z $value ]]; then
		if grep -q 'Default empty' <<<"$text"; then
			pass
		else
			fail "$man5: '$key' does not say its default is empty"
		fi
	elif grep -Eq -- "(^|[^A-Za-z0-9_.:/-])$(re "$value")(\$|[^A-Za-z0-9_/-])" \
	    <<<"$text"; then
		pass
	else
		fail "$man5: '$key' does not give its default '$value'"
	fi
done <"$tmp/keys"

# The reverse: every key item of copilot-gw.conf(5) is a real key.
while IFS=$'\t' read -r key _; do
	if cut -d"$us" -f1 "$tmp/keys" | grep -Fxq -- "$key"; then
		pass
	else
		fail "$man5: documents '$key', which is not a config key"
	fi
done <"$tmp/items"

echo "$passed passed, $failed failed"
[[ $failed -eq 0 ]]
