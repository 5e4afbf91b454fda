# Sourced by the shell tests: a private dbus-daemon with a real pylockerd on it, started and stopped by
# PID, and TAP helpers. Needs PYLOCKERD, PYLOCKCTL and PYLOCKER_TEST_BUS_CONFIG (set by meson).

tap_n=0
tap_failed=0

# check WHAT CMD...: one TAP line, ok when CMD succeeds.
check() {
    local what=$1
    shift
    tap_n=$((tap_n + 1))
    if "$@"; then
        echo "ok $tap_n - $what"
    else
        echo "not ok $tap_n - $what"
        tap_failed=$((tap_failed + 1))
    fi
}

tap_end() {
    echo "1..$tap_n"
    exit $((tap_failed > 0))
}

bus_pid=""
daemon_pid=""
test_dir=$(mktemp -d)

stop_daemon() {
    if [ -n "$daemon_pid" ]; then
        kill "$daemon_pid" 2>/dev/null
        wait "$daemon_pid" 2>/dev/null
    fi
    # The bus forked itself away: not waited for (PID 1 may not reap it), only killed.
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null
    daemon_pid=""
    bus_pid=""
    rm -rf "$test_dir"
}

# Starts the bus and pylockerd with these extra arguments; exports BUS_ADDRESS.
start_daemon() {
    local out i
    out=$(dbus-daemon --config-file="$PYLOCKER_TEST_BUS_CONFIG" --fork --print-address=1 --print-pid=1 2>/dev/null) ||
        { echo "Bail out! dbus-daemon did not start"; exit 1; }
    BUS_ADDRESS=$(echo "$out" | sed -n 1p)
    bus_pid=$(echo "$out" | sed -n 2p)
    export BUS_ADDRESS
    : >"$test_dir/empty.conf"
    "$PYLOCKERD" --address="$BUS_ADDRESS" --config="$test_dir/empty.conf" --no-private-socket "$@" \
        >"$test_dir/pylockerd.log" 2>&1 &
    daemon_pid=$!
    for i in $(seq 200); do
        "$PYLOCKCTL" --address "$BUS_ADDRESS" status >/dev/null 2>&1 && return 0
        sleep 0.05
    done
    echo "Bail out! pylockerd did not answer"
    cat "$test_dir/pylockerd.log" | sed 's/^/# /'
    exit 1
}
