# SPDX-License-Identifier: ISC
#
# fish completion for copilot-gw(1). The words are static and follow
# `copilot-gw help --list-commands`; tests/lint/drift.sh checks that every
# command and option it prints appears here. Key ids and labels are asked
# of the binary itself (`copilot-gw keys list --names`), with the global
# options of the command line, as git asks git.

set -l commands serve login accounts keys audit env config doctor version help
set -l login_subcommands github
set -l accounts_subcommands list show remove
set -l keys_subcommands create list show label rotate revoke recover-admin
set -l env_subcommands claude openai
set -l config_subcommands show path

# Prints the candidates for the KEY=VALUE argument of --set.
function __copilot_gw_set_values
    set -l token (string replace -r -- '^--set=' '' (commandline -ct))
    switch $token
        case 'log.level=*'
            printf 'log.level=%s\n' debug info warn error
        case 'listen.allow_remote=*'
            printf 'listen.allow_remote=%s\n' true false
        case 'auth.enabled=*'
            printf 'auth.enabled=%s\n' true false
        case '*=*'
            return
        case '*'
            printf '%s=\n' listen.host listen.port listen.allow_remote \
                auth.enabled log.level limits.max_header_bytes \
                limits.max_headers limits.max_body_bytes \
                limits.max_connections limits.account_concurrency \
                limits.account_queue limits.account_queue_wait \
                timeouts.header timeouts.body timeouts.idle timeouts.write \
                timeouts.shutdown timeouts.upstream_connect \
                timeouts.upstream_idle timeouts.stream_keepalive \
                upstreams.github.github_url upstreams.github.api_url \
                upstreams.github.copilot_url upstreams.github.client_id \
                upstreams.github.editor_version \
                upstreams.github.plugin_version upstreams.github.api_version \
                upstreams.github.models_ttl models.aliases \
                upstreams.m365.login_url \
                upstreams.m365.graph_url upstreams.m365.tenant \
                upstreams.m365.client_id upstreams.m365.client_secret
    end
end

# Prints the ids and labels of the live keys, asking the binary with the
# --home and --config options of the command line.
function __copilot_gw_key_names
    set -l tokens (commandline -opc)
    set -l args
    set -l i 2
    while test $i -le (count $tokens)
        switch $tokens[$i]
            case --home --config
                set i (math $i + 1)
                test $i -le (count $tokens); and set -a args $tokens[(math $i - 1)] $tokens[$i]
            case '--home=*' '--config=*'
                set -a args $tokens[$i]
            case '-*'
            case '*'
                break
        end
        set i (math $i + 1)
    end
    command $tokens[1] $args keys list --names 2>/dev/null
end

# True if the keys subcommand (one of the arguments) has no operand yet.
function __copilot_gw_keys_needs_key
    set -l tokens (commandline -opc)
    set -l seen 0
    set -l n 0
    set -l i 2
    while test $i -le (count $tokens)
        set -l t $tokens[$i]
        set i (math $i + 1)
        if test $seen -eq 0
            contains -- $t $argv; and set seen 1
            continue
        end
        switch $t
            case --grace
                set i (math $i + 1)
            case '-*'
            case '*'
                set n (math $n + 1)
        end
    end
    test $seen -eq 1 -a $n -eq 0
end

complete -c copilot-gw -f

# Global options, before the command word.
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -l config -r -F -d 'Read the configuration from a file'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -s h -l help -d 'Show help'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -l home -x -a '(__fish_complete_directories)' -d 'Keep all files in one directory'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -l set -x -a '(__copilot_gw_set_values)' -d 'Override a configuration key'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -s V -l version -d 'Print the version'

# Commands.
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a serve -d 'Run the gateway in the foreground'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a login -d 'Add an upstream account'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a accounts -d 'List, show or remove upstream accounts'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a keys -d 'Create, list, rotate or revoke client keys'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a audit -d 'Print the audit trail of keys, accounts and logins'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a env -d 'Print environment variables for Claude Code or OpenAI clients'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a config -d 'Show the configuration or its file path'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a doctor -d 'Check the config, files, store, port and upstreams'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a version -d 'Print the version of copilot-gw and its libraries'
complete -c copilot-gw -n "not __fish_seen_subcommand_from $commands" -a help -d 'Show help for copilot-gw or a command'

# serve
complete -c copilot-gw -n "__fish_seen_subcommand_from serve" -l allow-remote -d 'Allow a non-loopback listen address'
complete -c copilot-gw -n "__fish_seen_subcommand_from serve" -l listen -x -d 'Listen on HOST:PORT'
complete -c copilot-gw -n "__fish_seen_subcommand_from serve" -l log-level -x -a 'debug info warn error' -d 'Log at this level and above'

# login github
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and not __fish_seen_subcommand_from $login_subcommands" -a github -d 'Log in to GitHub Copilot'
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and __fish_seen_subcommand_from github" -l account-type -x -a 'individual business enterprise' -d 'Copilot plan'
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and __fish_seen_subcommand_from github" -l api-url -x -d 'GitHub API for this account'
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and __fish_seen_subcommand_from github" -l github-url -x -d 'GitHub host for this account'
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and __fish_seen_subcommand_from github" -l label -x -d 'Label of the account'
complete -c copilot-gw -n "__fish_seen_subcommand_from login; and __fish_seen_subcommand_from github" -l token-stdin -d 'Read a GitHub OAuth token from standard input'

# accounts list, accounts show, accounts remove
complete -c copilot-gw -n "__fish_seen_subcommand_from accounts; and not __fish_seen_subcommand_from $accounts_subcommands" -a list -d 'List the upstream accounts'
complete -c copilot-gw -n "__fish_seen_subcommand_from accounts; and not __fish_seen_subcommand_from $accounts_subcommands" -a show -d 'Show one account'
complete -c copilot-gw -n "__fish_seen_subcommand_from accounts; and not __fish_seen_subcommand_from $accounts_subcommands" -a remove -d 'Remove an account and its token'
complete -c copilot-gw -n "__fish_seen_subcommand_from accounts; and __fish_seen_subcommand_from list show" -l json -d 'Print JSON'

# keys create|list|show|label|rotate|revoke|recover-admin
set -l keys_cond "__fish_seen_subcommand_from keys"
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a create -d 'Create a key and print its secret once'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a list -d 'List the keys'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a show -d 'Show one key'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a label -d 'Change the label of a key'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a rotate -d 'Give a key a new secret'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a revoke -d 'Revoke a key for good'
complete -c copilot-gw -n "$keys_cond; and not __fish_seen_subcommand_from $keys_subcommands" -a recover-admin -d 'Issue a new admin key'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l account -x -d 'Bind the key to an account (id or label)'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l expires -x -d 'Expire after a duration (e.g. 30d)'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l label -x -d 'Label of the key'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l max-concurrent -x -d 'Most requests in flight'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l models -x -d 'Allowed models (ids and globs, comma-separated)'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l rpm -x -d 'Most requests per minute'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l tier -x -a 'admin client' -d 'Tier of the key'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create" -l tpm -x -d 'Most tokens per minute'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from create show label rotate revoke recover-admin" -l json -d 'Print JSON'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from list" -l json -d 'Print a JSON array'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from list" -l names -d 'Print only ids and labels'
complete -c copilot-gw -n "$keys_cond; and __fish_seen_subcommand_from rotate" -l grace -x -d 'Keep the old secret valid this long (e.g. 1h)'
complete -c copilot-gw -n "$keys_cond; and __copilot_gw_keys_needs_key show label rotate revoke" -a '(__copilot_gw_key_names)' -d 'Key'

# audit
complete -c copilot-gw -n "__fish_seen_subcommand_from audit" -l json -d 'Print a JSON array'
complete -c copilot-gw -n "__fish_seen_subcommand_from audit" -l since -x -d 'Only the events of the last duration (e.g. 7d)'

# env claude, env openai
set -l env_cond "__fish_seen_subcommand_from env; and not __fish_seen_subcommand_from help"
complete -c copilot-gw -n "$env_cond; and not __fish_seen_subcommand_from $env_subcommands" -a claude -d 'Print the variables that point Claude Code at copilot-gw'
complete -c copilot-gw -n "$env_cond; and not __fish_seen_subcommand_from $env_subcommands" -a openai -d 'Print the variables that point OpenAI clients at copilot-gw'
complete -c copilot-gw -n "$env_cond; and __fish_seen_subcommand_from $env_subcommands" -l key -x -d 'Key the client presents (sk-cgw-...)'
complete -c copilot-gw -n "$env_cond; and __fish_seen_subcommand_from $env_subcommands" -l shell -x -a 'bash zsh fish powershell' -d 'Shell to write for'
complete -c copilot-gw -n "$env_cond; and __fish_seen_subcommand_from claude" -l model -x -d 'Main model'
complete -c copilot-gw -n "$env_cond; and __fish_seen_subcommand_from claude" -l small-model -x -d 'Small, fast model for background work'

# config show, config path
complete -c copilot-gw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $config_subcommands" -a show -d 'Print the effective configuration'
complete -c copilot-gw -n "__fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $config_subcommands" -a path -d 'Print the path of the configuration file'
complete -c copilot-gw -n "__fish_seen_subcommand_from config; and __fish_seen_subcommand_from show" -l json -d 'Print a JSON object'

# doctor
complete -c copilot-gw -n "__fish_seen_subcommand_from doctor" -l json -d 'Print a JSON array'
complete -c copilot-gw -n "__fish_seen_subcommand_from doctor" -l timeout -x -d 'Time each upstream may take (e.g. 2s)'

# version
complete -c copilot-gw -n "__fish_seen_subcommand_from version" -l json -d 'Print a JSON object'

# help [COMMAND [SUBCOMMAND]] | help --list-commands
set -l help_topics serve login accounts keys audit env config doctor version
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and not __fish_seen_subcommand_from $help_topics" -l list-commands -d 'List every command and its options'
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and not __fish_seen_subcommand_from $help_topics" -a "$commands"
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and __fish_seen_subcommand_from login; and not __fish_seen_subcommand_from $login_subcommands" -a "$login_subcommands"
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and __fish_seen_subcommand_from accounts; and not __fish_seen_subcommand_from $accounts_subcommands" -a "$accounts_subcommands"
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and __fish_seen_subcommand_from keys; and not __fish_seen_subcommand_from $keys_subcommands" -a "$keys_subcommands"
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and __fish_seen_subcommand_from env; and not __fish_seen_subcommand_from $env_subcommands" -a "$env_subcommands"
complete -c copilot-gw -n "__fish_seen_subcommand_from help; and __fish_seen_subcommand_from config; and not __fish_seen_subcommand_from $config_subcommands" -a "$config_subcommands"

# --help after any command word.
complete -c copilot-gw -n "__fish_seen_subcommand_from $commands" -s h -l help -d 'Show help for this command'
