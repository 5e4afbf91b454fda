#!/bin/bash
# The bash and zsh completions of pylockctl, run as the shells run them, against a real pylockerd on a
# private bus: verbs, options, option arguments, lock ids, locked paths, client ids and names, and the
# command after "--". Speaks TAP.
#   test-completion.sh SOURCE_DIR BUILD_DIR
set -u

src_dir=$1
build_dir=$2
. "$src_dir/tests/cli/daemon.sh"
trap 'stop_daemon' EXIT

# The completions call pylockctl by the name typed: the built one.
export PATH="$build_dir/src/cli:$PATH"
completion=$src_dir/shell-completion/pylockctl
zsh_dir=$src_dir/shell-completion/zsh

# What bash offers for LINE (the cursor at its end), one a line: the words split as readline does
# (COMP_WORDBREAKS' ':' and '=' are words of their own), then the completion function called.
complete_bash() {
    bash -c '
        . /usr/share/bash-completion/bash_completion
        . "$1"
        line=$2
        COMP_WORDS=()
        word=""
        for ((i = 0; i < ${#line}; i++)); do
            c=${line:i:1}
            case $c in
                " ") [[ -n $word ]] && COMP_WORDS+=("$word"); word="" ;;
                ":" | "=") [[ -n $word ]] && COMP_WORDS+=("$word"); COMP_WORDS+=("$c"); word="" ;;
                *) word+=$c ;;
            esac
        done
        COMP_WORDS+=("$word")
        COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
        COMP_LINE=$line
        COMP_POINT=${#line}
        _pylockctl pylockctl "${COMP_WORDS[COMP_CWORD]}" "${COMP_WORDS[COMP_CWORD - 1]}"
        printf "%s\n" "${COMPREPLY[@]}"
    ' complete-bash "$completion" "$1" 2>/dev/null
}

# got_all GOT WORD...: GOT (one a line) has every WORD, and none of the !WORDs.
got_all() {
    local got=$1 w
    shift
    for w in "$@"; do
        if [[ $w == !* ]]; then
            grep -qxF -- "${w#!}" <<<"$got" || continue
            echo "# offered '${w#!}', which it must not"
        else
            grep -qxF -- "$w" <<<"$got" && continue
            echo "# did not offer '$w'"
        fi
        echo "# it offered:"
        sed 's/^/#   /' <<<"$got"
        return 1
    done
}

# The cases: what is said, the line, the words it must offer (!WORD: must not).
descs=()
lines=()
wants=()
add_case() {
    descs+=("$1")
    lines+=("$2")
    shift 2
    wants+=("$*")
}

[ -r /usr/share/bash-completion/bash_completion ] || { echo "1..0 # SKIP bash-completion is not installed"; exit 0; }

start_daemon
ctl() { "$PYLOCKCTL" --address "$BUS_ADDRESS" "$@"; }

# A lock, and a listener with a name, for the completions to find.
lock_id=$(ctl acquire --pid $$ /srv/completion/a) || { echo "Bail out! acquire failed"; exit 1; }
"$PYLOCKCTL" --address "$BUS_ADDRESS" listen --name comp-listener >/dev/null &
listener=$!
for _ in $(seq 100); do ctl clients | grep -q comp-listener && break; sleep 0.05; done
listener_id=$(ctl clients --no-legend | awk '$2 == "comp-listener" { print $1 }')
a="--address $BUS_ADDRESS"

add_case "the verbs, not the hidden one" "pylockctl " run hold acquire release locks clients status force-release \
    publish listen file-lock '!__complete'
add_case "global options" "pylockctl --no-p" --no-pager --no-private-socket
add_case "a verb's options" "pylockctl run --ti" --timeout
add_case "--json's modes" "pylockctl locks --json=" pretty short off
add_case "lock ids for release, from the daemon the global options name" "pylockctl $a release " "$lock_id"
add_case "lock ids for force-release, by their start" "pylockctl $a force-release ${lock_id:0:4}" "$lock_id"
add_case "client names for --to" "pylockctl $a publish --to comp-" comp-listener
add_case "locked paths for hold" "pylockctl $a hold /srv/comp" /srv/completion/a
add_case "the command after --" "pylockctl $a run /srv/x -- ech" echo
add_case "the command's own options after --" "pylockctl $a run /srv/x -- ls --all" --all
n_common=${#descs[@]}

for ((i = 0; i < n_common; i++)); do
    check "bash: ${descs[i]}" got_all "$(complete_bash "${lines[i]}")" ${wants[i]}
done
# Client ids: bash drops what precedes a colon from each match, as readline replaces only the word after it.
check "bash: client ids for --to" got_all "$(complete_bash "pylockctl $a publish --to :")" "${listener_id#:}"

if command -v zsh >/dev/null && zsh -f -c 'zmodload zsh/zpty' 2>/dev/null; then
    add_case "client ids for --to" "pylockctl $a publish --to :" "$listener_id"
    # One zsh for every case: its completion system takes a second to load.
    zsh_out=$(timeout 120 zsh -f "$src_dir/tests/cli/zsh-complete.zsh" "$zsh_dir" "${lines[@]}" 2>/dev/null)
    for ((i = 0; i < ${#descs[@]}; i++)); do
        got=$(awk -v n=$((i + 1)) '/^== [0-9]+$/ { here = ($2 == n); next } here' <<<"$zsh_out")
        check "zsh: ${descs[i]}" got_all "$got" ${wants[i]}
    done
else
    echo "# zsh (with zsh/zpty) is not installed: its completion is not tried"
fi

kill "$listener" 2>/dev/null
wait "$listener" 2>/dev/null
ctl release "$lock_id" >/dev/null
tap_end
