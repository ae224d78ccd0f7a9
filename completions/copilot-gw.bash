# SPDX-License-Identifier: ISC
#
# bash completion for copilot-gw(1). The words are static and follow
# `copilot-gw help --list-commands`; tests/lint/drift.sh checks that every
# command and option it prints appears here. Key ids and labels are asked
# of the binary itself (`copilot-gw keys list --names`), with the global
# options of the command line, as git asks git.

_copilot_gw_commands="serve login accounts keys audit env config doctor
version help"
_copilot_gw_global_opts="--config --help --home --set --version"
_copilot_gw_levels="debug info warn error"
_copilot_gw_keys="listen.host listen.port listen.allow_remote auth.enabled
log.level limits.max_header_bytes limits.max_headers limits.max_body_bytes
limits.max_connections limits.account_concurrency limits.account_queue
limits.account_queue_wait timeouts.header timeouts.body timeouts.idle
timeouts.write timeouts.shutdown timeouts.upstream_connect
timeouts.upstream_idle timeouts.stream_keepalive upstreams.github.github_url
upstreams.github.api_url upstreams.github.copilot_url
upstreams.github.client_id upstreams.github.editor_version
upstreams.github.plugin_version upstreams.github.api_version
upstreams.github.models_ttl models.aliases upstreams.m365.login_url upstreams.m365.graph_url upstreams.m365.tenant
upstreams.m365.client_id upstreams.m365.client_secret"

# Prints the long options of a command path ("serve", "config show").
_copilot_gw_options()
{
	case "$1" in
	serve)		echo "--allow-remote --listen --log-level" ;;
	"login github")	echo "--account-type --api-url --github-url --label
			    --token-stdin" ;;
	"accounts list" | "accounts show") echo "--json" ;;
	"accounts remove") echo "" ;;
	"keys create")	echo "--account --expires --json --label
			    --max-concurrent --models --rpm --tier --tpm" ;;
	"keys list")	echo "--json --names" ;;
	"keys show" | "keys label" | "keys revoke" | "keys recover-admin")
			echo "--json" ;;
	"keys rotate")	echo "--grace --json" ;;
	audit)		echo "--json --since" ;;
	"env claude")	echo "--key --model --shell --small-model" ;;
	"env openai")	echo "--key --shell" ;;
	"config show")	echo "--json" ;;
	"config path")	echo "" ;;
	doctor)		echo "--json --timeout" ;;
	version)	echo "--json" ;;
	help)		echo "--list-commands" ;;
	esac
}

# Prints the subcommands of a command, if it has any.
_copilot_gw_subcommands()
{
	case "$1" in
	login)		echo "github" ;;
	accounts)	echo "list show remove" ;;
	keys)		echo "create list show label rotate revoke recover-admin" ;;
	env)		echo "claude openai" ;;
	config)		echo "show path" ;;
	esac
}

# Completes the KEY=VALUE argument of --set.
_copilot_gw_set()
{
	local cur=$1 key values v

	if [[ $cur != *=* ]]; then
		COMPREPLY=($(compgen -W "$_copilot_gw_keys" -S = -- "$cur"))
		compopt -o nospace 2>/dev/null
		return
	fi
	key=${cur%%=*}
	case "$key" in
	log.level)		values=$_copilot_gw_levels ;;
	listen.allow_remote | auth.enabled) values="true false" ;;
	*)			return ;;
	esac
	COMPREPLY=($(compgen -W "$values" -- "${cur#*=}"))
	# Readline completes after the '=' if it is a word break character.
	if [[ $COMP_WORDBREAKS != *=* ]]; then
		for v in "${!COMPREPLY[@]}"; do
			COMPREPLY[v]=$key=${COMPREPLY[v]}
		done
	fi
}

# Prints the ids and labels of the live keys, asking the binary with the
# global options given on the command line (so that --home is honoured).
_copilot_gw_key_names()
{
	local bin=$1

	shift
	[[ $bin == "~/"* ]] && bin=$HOME/${bin#"~/"}
	"$bin" "$@" keys list --names 2>/dev/null
}

_copilot_gw()
{
	local line cur prev cmd="" sub="" i w nwords npos=0
	local -a words globals=()

	# Split the line ourselves so that '=' and ':' stay inside words.
	line=${COMP_LINE:0:COMP_POINT}
	read -r -a words <<<"$line"
	[[ $line == *[[:space:]] ]] && words+=("")
	nwords=${#words[@]}
	cur=${words[nwords - 1]}
	prev=""
	((nwords > 1)) && prev=${words[nwords - 2]}
	COMPREPLY=()

	# Find the command and subcommand words before the current one.
	for ((i = 1; i < nwords - 1; i++)); do
		w=${words[i]}
		if [[ -z $cmd ]]; then
			case "$w" in
			--home | --config | --set)
				globals+=("$w" "${words[i + 1]}")
				((i++))
				;;
			--home=* | --config=* | --set=*) globals+=("$w") ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		elif [[ -z $sub && -n $(_copilot_gw_subcommands "$cmd") ]]; then
			[[ $w != -* ]] && sub=$w
		elif [[ -n $sub || -z $(_copilot_gw_subcommands "$cmd") ]]; then
			# An operand, unless it is an option or its value.
			case "$w" in
			--account | --expires | --label | --max-concurrent | \
			    --models | --rpm | --tier | --tpm | --grace | \
			    --since | --listen | --log-level | --timeout | \
			    --account-type | --api-url | --github-url | \
			    --key | --model | --shell | --small-model)
				((i++)) ;;
			-*) ;;
			*) ((npos++)) ;;
			esac
		fi
	done

	case "$prev" in
	--home)
		[[ -z $cmd ]] && {
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -d -- "$cur"))
			return
		}
		;;
	--config)
		[[ -z $cmd ]] && {
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -f -- "$cur"))
			return
		}
		;;
	--set)
		[[ -z $cmd ]] && {
			_copilot_gw_set "$cur"
			return
		}
		;;
	--log-level)
		[[ $cmd == serve ]] && {
			COMPREPLY=($(compgen -W "$_copilot_gw_levels" -- "$cur"))
			return
		}
		;;
	--account-type)
		[[ $cmd == login ]] && {
			COMPREPLY=($(compgen -W "individual business enterprise" \
			    -- "$cur"))
			return
		}
		;;
	--tier)
		[[ $cmd == keys ]] && {
			COMPREPLY=($(compgen -W "admin client" -- "$cur"))
			return
		}
		;;
	--shell)
		[[ $cmd == env ]] && {
			COMPREPLY=($(compgen -W "bash zsh fish powershell" \
			    -- "$cur"))
			return
		}
		;;
	--listen | --timeout | --api-url | --github-url | --label | \
	    --account | --expires | --max-concurrent | --models | --rpm | \
	    --tpm | --grace | --since | --key | --model | --small-model)
		[[ -n $cmd ]] && return
		;;
	esac

	if [[ -z $cmd ]]; then
		if [[ $cur == -* ]]; then
			COMPREPLY=($(compgen -W "$_copilot_gw_global_opts" -- "$cur"))
		else
			COMPREPLY=($(compgen -W "$_copilot_gw_commands" -- "$cur"))
		fi
		return
	fi

	if [[ -n $(_copilot_gw_subcommands "$cmd") ]]; then
		if [[ -z $sub ]]; then
			if [[ $cur == -* ]]; then
				COMPREPLY=($(compgen -W "--help" -- "$cur"))
			else
				COMPREPLY=($(compgen -W \
				    "$(_copilot_gw_subcommands "$cmd")" -- "$cur"))
			fi
			return
		fi
		cmd="$cmd $sub"
	fi

	if [[ $cur == -* ]]; then
		COMPREPLY=($(compgen -W "$(_copilot_gw_options "$cmd") --help" \
		    -- "$cur"))
		return
	fi

	# keys show, label, rotate and revoke take a key's id or label first.
	case "$cmd" in
	"keys show" | "keys label" | "keys rotate" | "keys revoke")
		if ((npos == 0)); then
			local IFS=$'\n'
			COMPREPLY=($(compgen -W \
			    "$(_copilot_gw_key_names "${words[0]}" \
			    "${globals[@]}")" -- "$cur"))
			# A label may hold spaces.
			((${#COMPREPLY[@]})) &&
			    COMPREPLY=($(printf '%q\n' "${COMPREPLY[@]}"))
		fi
		return
		;;
	esac

	# help takes a command and, for one with subcommands, a subcommand.
	if [[ $cmd == help ]]; then
		local -a args=()
		for ((i = 1; i < nwords - 1; i++)); do
			[[ ${words[i]} == help ]] && break
		done
		for ((i++; i < nwords - 1; i++)); do
			[[ ${words[i]} != -* ]] && args+=("${words[i]}")
		done
		case ${#args[@]} in
		0)	COMPREPLY=($(compgen -W "$_copilot_gw_commands" \
			    -- "$cur")) ;;
		1)	COMPREPLY=($(compgen -W \
			    "$(_copilot_gw_subcommands "${args[0]}")" \
			    -- "$cur")) ;;
		esac
	fi
}

complete -F _copilot_gw copilot-gw
