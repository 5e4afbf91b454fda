#!/bin/bash
# The documentation cannot drift from what pylockctl does: every ```sh block of docs/pylockctl.md and of
# the README runs, as it stands, against a real pylockerd on a private bus (the system and session bus
# addresses point there), must succeed and must leave no lock behind; and every verb and option that
# pylockctl knows (as its completion listing says) is named in docs/pylockctl.md (in the verb's own
# section) and in the man page. Speaks TAP.
#   test-docs.sh SOURCE_DIR
set -u

src_dir=$1
. "$src_dir/tests/cli/daemon.sh"
trap 'stop_daemon' EXIT

start_daemon

# "pylockctl" as the docs type it: the built one, on the private bus.
mkdir -p "$test_dir/bin" "$test_dir/work"
cat >"$test_dir/bin/pylockctl" <<EOF
#!/bin/sh
exec "$PYLOCKCTL" --no-private-socket "\$@"
EOF
chmod +x "$test_dir/bin/pylockctl"
export PATH="$test_dir/bin:$PATH" DBUS_SYSTEM_BUS_ADDRESS=$BUS_ADDRESS DBUS_SESSION_BUS_ADDRESS=$BUS_ADDRESS
# Blocks run where the examples are where the docs say they are.
ln -s "$src_dir/examples" "$test_dir/work/examples"

no_locks_left() {
    for _ in $(seq 100); do
        [ -z "$(pylockctl locks --no-legend)" ] && return 0
        sleep 0.05
    done
    echo "# locks left behind:"
    pylockctl locks | sed 's/^/#   /'
    return 1
}

# run_blocks FILE: each ```sh block of FILE as a bash script of its own, with -e and pipefail.
run_blocks() {
    local file=$1 name=${1#"$src_dir"/} n=0 start line first out
    local -a starts=()
    while IFS=: read -r start _; do starts+=("$start"); done < <(grep -n '^```sh$' "$file")
    for start in "${starts[@]}"; do
        n=$((n + 1))
        script=$test_dir/block-$n.sh
        tail -n +"$((start + 1))" "$file" | sed '/^```$/,$d' >"$script"
        first=$(head -1 "$script")
        out=$(cd "$test_dir/work" && timeout 60 bash -euo pipefail "$script" 2>&1)
        status=$?
        [ -n "$out" ] && sed 's/^/# /' <<<"$out"
        check "$name:$start runs ($first)" test "$status" -eq 0
        check "$name:$start leaves no lock behind" no_locks_left
    done
    check "$name has runnable examples" test "$n" -gt 0
}

run_blocks "$src_dir/docs/pylockctl.md"
run_blocks "$src_dir/README.md"

# The section of docs/pylockctl.md that documents a verb: from its "### " heading to the next heading.
section() {
    awk -v verb="$1" '
        /^##/ { inside = 0 }
        /^### / { n = split(substr($0, 5), words, / and /); for (i = 1; i <= n; i++) if (words[i] == verb) inside = 1 }
        /^## Global options/ { inside = (verb == "") }
        inside' "$src_dir/docs/pylockctl.md"
}

# names_all TEXT OPTION...: every OPTION is in TEXT.
names_all() {
    local text=$1 o missing=""
    shift
    for o in "$@"; do
        grep -qF -- "$o" <<<"$text" || missing="$missing $o"
    done
    [ -z "$missing" ] || echo "# not named:$missing"
    [ -z "$missing" ]
}

options_of() {
    # --help is every verb's, and said once among the global options.
    "$PYLOCKCTL" __complete options "$@" | cut -f1 | grep -vx -- --help
}

man=$(cat "$src_dir/docs/pylockctl.1.rst")
verbs=$("$PYLOCKCTL" __complete verbs | cut -f1)
check "pylockctl lists its verbs" test -n "$verbs"
# shellcheck disable=SC2046
check "docs/pylockctl.md names every global option" names_all "$(section "")" $(options_of) --help
# shellcheck disable=SC2046
check "the man page names every global option" names_all "$man" $(options_of) --help
for verb in $verbs; do
    if [ "$verb" = file-lock ]; then
        # Its own page: docs/filelock.md.
        text=$(cat "$src_dir/docs/filelock.md")
    else
        text=$(section "$verb")
    fi
    check "docs/pylockctl.md has a section on $verb" test -n "$text"
    # shellcheck disable=SC2046
    check "docs/pylockctl.md names every option of $verb" names_all "$text" $(options_of "$verb")
    # shellcheck disable=SC2046
    check "the man page names $verb and every option of it" names_all "$man" "**$verb**" $(options_of "$verb")
done
check "docs/pylockctl.md documents the lock units" grep -q 'pylocker-lock@.service' "$src_dir/docs/pylockctl.md"
check "the man page documents the lock units" grep -q 'pylocker-lock@.service' "$src_dir/docs/pylockctl.1.rst"

tap_end
