#!/bin/bash
# Runs every benchmark of tests/bench, with Redis and etcd started beside them on loopback, and
# prints one table of figures, references and ratios; writes it as JSON too.
#
#   tests/bench/run-all.sh [BUILDDIR]
#
# BUILDDIR (default build-bench/ in the source tree) is configured and built when it has no
# build.ninja yet. Redis and etcd come from Debian packages, installed with apt-get when missing;
# they run in a temporary directory (etcd's data on tmpfs), on free ports, without persistence, and
# are stopped by PID on the way out. Environment:
#   PYLOCKER_BENCH_SECONDS  seconds per rate measurement (default 2)
#   PYLOCKER_BENCH_JSON     where the JSON goes (default BUILDDIR/bench-results.json)
#   PYLOCKER_BENCH_NO_INSTALL=1  never run apt-get (rows of what is missing say so)
set -euo pipefail

src=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
build=$(realpath -m "${1:-$src/build-bench}")
json=${PYLOCKER_BENCH_JSON:-$build/bench-results.json}
started=$(date +%s)

note() { printf '%s\n' "$*" >&2; }

if [ ! -f "$build/build.ninja" ]; then
        meson setup "$build" "$src" --buildtype=debugoptimized >&2
fi
ninja -C "$build" >&2

if ! command -v redis-server >/dev/null || ! command -v etcd >/dev/null; then
        if [ "${PYLOCKER_BENCH_NO_INSTALL:-0}" != 1 ]; then
                sudo=
                [ "$(id -u)" = 0 ] || sudo=sudo
                note "installing redis-server and etcd-server from Debian's packages"
                $sudo apt-get install -y -q redis-server etcd-server etcd-client >&2 ||
                        note "could not install them: their rows stay empty"
        fi
fi

tmp=$(mktemp -d /tmp/pylocker-bench-XXXXXX)
etcd_data=
pids=()
cleanup() {
        for pid in "${pids[@]}"; do
                kill "$pid" 2>/dev/null || true
        done
        for pid in "${pids[@]}"; do
                wait "$pid" 2>/dev/null || true
        done
        rm -rf "$tmp"
        [ -z "$etcd_data" ] || rm -rf "$etcd_data"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() {
        python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

export PYLOCKER_BENCH_REDIS_PORT= PYLOCKER_BENCH_ETCD_PORT=
if command -v redis-server >/dev/null; then
        PYLOCKER_BENCH_REDIS_PORT=$(free_port)
        redis-server --bind 127.0.0.1 --port "$PYLOCKER_BENCH_REDIS_PORT" --save '' --appendonly no \
                --dir "$tmp" --daemonize no --logfile "$tmp/redis.log" &
        pids+=($!)
fi
if command -v etcd >/dev/null; then
        PYLOCKER_BENCH_ETCD_PORT=$(free_port)
        peer_port=$(free_port)
        # etcd always writes its log and syncs it: on tmpfs that costs next to nothing.
        if [ -d /dev/shm ] && [ -w /dev/shm ]; then
                etcd_data=$(mktemp -d /dev/shm/pylocker-bench-etcd-XXXXXX)
        else
                etcd_data=$tmp/etcd
        fi
        etcd --name bench --data-dir "$etcd_data" \
                --listen-client-urls "http://127.0.0.1:$PYLOCKER_BENCH_ETCD_PORT" \
                --advertise-client-urls "http://127.0.0.1:$PYLOCKER_BENCH_ETCD_PORT" \
                --listen-peer-urls "http://127.0.0.1:$peer_port" \
                --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
                --initial-cluster "bench=http://127.0.0.1:$peer_port" \
                --snapshot-count 1000000 >"$tmp/etcd.log" 2>&1 &
        pids+=($!)
fi

export PYLOCKERD="$build/src/daemon/pylockerd"
export PYLOCKER_TEST_BUS_CONFIG="$src/tests/data/session.conf"
export G_TEST_SRCDIR="$src/tests" G_TEST_BUILDDIR="$build/tests"
export LD_LIBRARY_PATH="$build/src/lib${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}"

results=$tmp/results.txt
: >"$results"
for prog in bench/bench-limits bench/bench-pairs bench/bench-wire bench/bench-scale bench/bench-messages bench/bench-alternatives \
            bench/bench-etcd \
            client/bench-bridge bench/bench-python; do
        if [ ! -x "$build/tests/$prog" ]; then
                note "== $prog: not built (bench-python needs the Python package: -Dpython)"
                continue
        fi
        note "== $prog"
        t0=$(date +%s)
        # One program that fails (a daemon without a feature it measures, say) leaves its rows empty,
        # not the whole table.
        "$build/tests/$prog" | tee -a "$results" >&2 || note "   $prog failed: its rows stay empty"
        note "   ($(( $(date +%s) - t0 )) s)"
done

cores=$(nproc)
model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
load=$(cut -d' ' -f1-3 /proc/loadavg)
python3 "$src/tests/bench/report.py" "$results" "$json" \
        --cores "$cores" --model "$model" --load "$load" --seconds "$(( $(date +%s) - started ))"
