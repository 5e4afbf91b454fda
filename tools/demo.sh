#!/bin/bash
# Installs what is missing, builds, starts a private session bus with pylockerd on it, and shows a
# lock being contended and handed over. Stops everything it started, by PID.
set -euo pipefail
cd "$(dirname "$0")/.."

./tools/install-deps.sh
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

T=$(mktemp -d)
bus_pid=""
daemon_pid=""
cleanup() {
    [ -n "$daemon_pid" ] && kill "$daemon_pid" 2>/dev/null && wait "$daemon_pid" 2>/dev/null || true
    [ -n "$bus_pid" ] && kill "$bus_pid" 2>/dev/null || true
    rm -rf "$T"
}
trap cleanup EXIT

pylockerd=build/src/daemon/pylockerd
pylockctl=build/src/cli/pylockctl

step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

step "A private session bus and pylockerd on it"
out=$(dbus-daemon --config-file=tests/data/session.conf --fork --print-address=1 --print-pid=1 2>/dev/null)
export DBUS_SESSION_BUS_ADDRESS=$(echo "$out" | sed -n 1p)
bus_pid=$(echo "$out" | sed -n 2p)
echo "bus: $DBUS_SESSION_BUS_ADDRESS (pid $bus_pid)"
$pylockerd --user --private-socket="$T/private" --config=/dev/null &
daemon_pid=$!
for _ in $(seq 100); do
    busctl --user status org.pylocker.Locker >/dev/null 2>&1 && break
    sleep 0.05
done
echo "pylockerd: pid $daemon_pid"

step "busctl --user introspect org.pylocker.Locker /org/pylocker/Locker"
busctl --user introspect org.pylocker.Locker /org/pylocker/Locker org.pylocker.Locker

ctl() { $pylockctl --user --private-socket="$T/private" "$@"; }

step "Job A takes the lock on /srv/report for 2 s"
ctl run /srv/report -- sh -c 'echo "  A: holding /srv/report, token $PYLOCKER_TOKEN"; sleep 2; echo "  A: done"' &
job_a=$!
sleep 0.5

step "pylockctl locks"
ctl locks

step "Job B asks for /srv/report and /srv/index at once: it waits for A"
start=$(date +%s%N)
ctl run --timeout 10 /srv/report /srv/index -- \
    sh -c 'echo "  B: got both paths, token $PYLOCKER_TOKEN (larger than A'"'"'s)"'
echo "  B waited $(( ($(date +%s%N) - start) / 1000000 )) ms"
wait "$job_a"

step "A nonblocking try while C holds the lock exits 75"
ctl run /srv/report -- sleep 1 &
job_c=$!
sleep 0.3
set +e
ctl run --nonblock /srv/report -- true
echo "  exit status: $?"
set -e
wait "$job_c"

step "pylockctl status"
ctl status
