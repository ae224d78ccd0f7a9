# SPDX-License-Identifier: ISC
#
# bash completion for copilot-gw(1). The words are static and follow
# `copilot-gw help --list-commands`; tests/lint/drift.sh checks that every
# command and option it prints appears here.

_copilot_gw_commands="serve login accounts config doctor version help"
_copilot_gw_global_opts="--config --help --home --set --version"
_copilot_gw_levels="debug info warn error"
_copilot_gw_keys="listen.host listen.port listen.allow_remote log.level
limits.max_header_bytes limits.max_headers limits.max_body_bytes
limits.max_connections timeouts.header timeouts.body timeouts.idle
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
	listen.allow_remote)	values="true false" ;;
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

_copilot_gw()
{
	local line cur prev cmd="" sub="" i w nwords
	local -a words

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
			--home | --config | --set) ((i++)) ;;
			-*) ;;
			*) cmd=$w ;;
			esac
		elif [[ -z $sub && -n $(_copilot_gw_subcommands "$cmd") ]]; then
			[[ $w != -* ]] && sub=$w
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
	--listen | --timeout | --api-url | --github-url | --label)
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
