#!/usr/bin/env python3
"""One table from the RESULT lines of the benchmarks: each row a figure, what it is compared with,
the ratio, and the target when there is one. Printed as Markdown and written as JSON."""

import argparse
import datetime
import json
import sys


def read_results(path):
    values, what = {}, {}
    with open(path) as f:
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) == 5 and parts[0] == "RESULT":
                values[parts[1]] = float(parts[2])
                what[parts[1]] = parts[4]
    return values, what


def us(v):
    return f"{v:,.1f} µs" if v < 1000 else f"{v / 1000:,.2f} ms"


def rate(v):
    return f"{v:,.0f}/s"


def per_s(usec):
    return 1e6 / usec


def rows(v):
    """(section, label, figure text, reference text, ratio, target (op, bound) or None, note)."""
    out = []

    def get(*keys):
        return [v.get(k) for k in keys]

    def row(section, label, fig, ref, ratio, target=None, note=""):
        out.append(dict(section=section, label=label, figure=fig, reference=ref, ratio=ratio,
                        target=target, note=note))

    def missing(section, label, why):
        out.append(dict(section=section, label=label, figure="not measured", reference=why, ratio=None,
                        target=None, note=""))

    # The limits.
    bus, p2p, tcp, tls, fl = get("rtt.bus.us", "rtt.p2p.us", "tcp.rtt.us", "tls.rtt.us", "flock.pair.us")
    if bus and p2p:
        row("limits", "empty sd-bus call over the bus", us(bus), f"p2p call {us(p2p)}", bus / p2p)
        row("limits", "empty sd-bus call peer to peer (unix socket)", us(p2p), "—", None)
    if fl and p2p:
        row("limits", "flock LOCK_EX+LOCK_UN pair, one process", us(fl), f"p2p call {us(p2p)}", fl / p2p)
    if tcp and p2p:
        row("limits", "16-byte ping-pong, loopback TCP", us(tcp), f"p2p call {us(p2p)}", tcp / p2p)
    wire = v.get("wire.rtt.us")
    if wire and p2p:
        row("limits", "PING round trip, wire protocol, direct socket", us(wire), f"p2p call {us(p2p)}", wire / p2p)
    if tls and tcp:
        row("limits", "16-byte ping-pong, TCP + TLS 1.3 PSK", us(tls), f"plain TCP {us(tcp)}", tls / tcp)
    elif tcp:
        missing("limits", "16-byte ping-pong, TCP + TLS 1.3 PSK", "built without GnuTLS")

    # Reading the statistics (one metrics scrape) against an empty call.
    if v.get("stats.bus.us") and bus:
        row("limits", "GetStatistics over the bus, raw sd-bus", us(v["stats.bus.us"]), f"bus call {us(bus)}",
            v["stats.bus.us"] / bus)

    # One client, pairs against round trips.
    for key, label in (("pair.raw.bus.us", "pair over the bus, raw sd-bus"),
                       ("pair.lib.bus.us", "pair over the bus, libpylocker-dbus")):
        if v.get(key) and bus:
            row("pylockerd", label, us(v[key]), f"2 × bus call {us(2 * bus)}", v[key] / (2 * bus), ("<=", 1.3))
    for key, label in (("pair.raw.direct.us", "pair over the direct socket, D-Bus peer to peer, raw sd-bus"),):
        if v.get(key) and p2p:
            row("pylockerd", label, us(v[key]), f"2 × p2p call {us(2 * p2p)}", v[key] / (2 * p2p), ("<=", 1.3))
    for key, label, target in (("wire.pair.us", "pair over the direct socket, raw wire protocol", ("<=", 1.3)),
                               ("wire.pair.nowait.us", "pair over the direct socket, raw wire, Release without reply",
                                None)):
        if v.get(key) and wire:
            row("pylockerd", label, us(v[key]), f"2 × wire PING {us(2 * wire)}", v[key] / (2 * wire), target)
    if v.get("pair.lib.direct.us") and wire:
        row("pylockerd", "pair over the direct socket, libpylocker-dbus", us(v["pair.lib.direct.us"]),
            f"2 × wire PING {us(2 * wire)}", v["pair.lib.direct.us"] / (2 * wire), ("<=", 1.3))
    lib_nowait, raw_nowait = get("pair.lib.direct.nowait.us", "wire.pair.nowait.us")
    if lib_nowait and raw_nowait:
        row("pylockerd", "pair over the direct socket, libpylocker-dbus, Release without reply", us(lib_nowait),
            f"raw wire, Release without reply {us(raw_nowait)}", lib_nowait / raw_nowait)
    alt, redis1 = get("alt.pylockerd.direct.us", "redis.1.us")
    if alt and redis1:
        row("pylockerd", "pairs/s, direct socket, library, 1 client", rate(per_s(alt)),
            f"Redis 1 client {rate(per_s(redis1))}", redis1 / alt, (">=", 1.3))
    nowait = v.get("alt.pylockerd.direct.nowait.us")
    if nowait and redis1:
        row("pylockerd", "pairs/s, direct socket, library, 1 client, Release without reply", rate(per_s(nowait)),
            f"Redis 1 client {rate(per_s(redis1))}", redis1 / nowait, (">=", 1.8))

    # Many clients.
    names = {"bus": "bus", "direct": "direct socket, D-Bus peer to peer", "wire": "direct socket, wire"}
    for via in ("bus", "direct", "wire"):
        one = v.get(f"distinct.{via}.1.rate")
        for n in (1, 8, 64):
            r = v.get(f"distinct.{via}.{n}.rate")
            if r and one:
                row("pylockerd", f"pairs/s, {n} client{'s' if n > 1 else ''} on distinct paths, {names[via]}",
                    rate(r), f"1 client {rate(one)}", r / one, (">=", 1.5) if n == 64 and via != "direct" else None)
    r64, redis64 = get("distinct.wire.64.rate", "redis.64.rate")
    if r64 and redis64:
        row("pylockerd", "pairs/s, 64 clients on distinct paths, direct socket, wire", rate(r64),
            f"Redis 64 clients {rate(redis64)}", r64 / redis64, (">=", 1.0))
    raw_bus = v.get("pair.raw.bus.us")
    for n in (2, 8, 64):
        r = v.get(f"contended.bus.{n}.rate")
        if r and raw_bus and bus:
            row("pylockerd", f"hand-over, {n} clients on one path, bus ({rate(r)})", us(1e6 / r),
                f"uncontended pair + 1 bus call {us(raw_bus + bus)}", (1e6 / r) / (raw_bus + bus),
                ("<=", 1.0) if n == 2 else None)
    wire_pair = v.get("wire.pair.us")
    for n in (2, 8, 64):
        r = v.get(f"contended.wire.{n}.rate")
        if r and wire_pair and wire:
            row("pylockerd", f"hand-over, {n} clients on one path, direct socket, wire ({rate(r)})", us(1e6 / r),
                f"uncontended pair + 1 wire PING {us(wire_pair + wire)}", (1e6 / r) / (wire_pair + wire),
                ("<=", 1.0) if n == 2 else None)
    for p in ("p50", "p99"):
        w, b = v.get(f"wakeup.{p}.us"), v.get(f"rtt.bus.{p}.us")
        if w and b:
            row("pylockerd", f"wake-up, Release to the next waiter's grant, {p}", us(w), f"bus call {p} {us(b)}",
                w / b)

    # Scale.
    for p in ("p50", "p99"):
        base = v.get(f"acquire.held.10.{p}.us")
        for n, label in (("10", "10"), ("10000", "10 000"), ("1000000", "1 000 000")):
            x = v.get(f"acquire.held.{n}.{p}.us")
            if x and base:
                row("pylockerd", f"uncontended Acquire {p}, {label} locks held", us(x), f"10 held {us(base)}",
                    x / base, ("<=", 1.2) if (n == "1000000" and p == "p50") else None)
    mem = v.get("rss.per_lock.bytes")
    if mem:
        row("pylockerd", "resident memory per held lock, at 1 000 000", f"{mem:,.0f} B", "200 B", mem / 200,
            ("<=", 1.0), f"RSS {v.get('rss.empty.bytes', 0) / 2**20:.1f} → {v.get('rss.full.bytes', 0) / 2**20:.1f} MiB")

    # Messages.
    for n in (1, 64):
        r = v.get(f"messages.{n}.rate")
        if r and bus:
            row("pylockerd", f"messages delivered/s, 1 publisher, {n} receiver{'s' if n > 1 else ''}", rate(r),
                f"bus calls {rate(per_s(bus))}", r / per_s(bus))

    # The bridge.
    b = v.get("bridge.1.rate")
    if b and redis1:
        row("pylockerd", "bridge pairs/s, 1 client, loopback TLS-PSK", rate(b),
            f"Redis 1 client {rate(per_s(redis1))}", b / per_s(redis1), (">=", 1.0))
    else:
        missing("pylockerd", "bridge pairs/s, 1 client, loopback TLS-PSK", "no bridge in this tree yet")
    b = v.get("bridge.1.nowait.rate")
    if b and redis1:
        row("pylockerd", "bridge pairs/s, 1 client, loopback TLS-PSK, Release without reply", rate(b),
            f"Redis 1 client {rate(per_s(redis1))}", b / per_s(redis1), (">=", 1.3))

    # The Python package: the same pairs through pylocker's ServerLocker, beside the C library, and
    # beside the original pylocker's 21.5 pairs/s measured for a client process.
    seed_client = 21.5
    for n in (1, 4):
        py, lib = get(f"python.pairs.{n}.rate", f"python.lib.pairs.{n}.rate")
        label = "1 process, uncontended path" if n == 1 else f"{n} processes on one path"
        if py and lib:
            row("python", f"Python ServerLocker pairs/s, {label}", rate(py), f"C library {rate(lib)}", py / lib,
                (">=", 0.5))
        if py and n == 1:
            row("python", f"Python ServerLocker pairs/s, {label}", rate(py),
                f"original pylocker client {seed_client}/s", py / seed_client, (">=", 100))
    if not v.get("python.pairs.1.rate"):
        missing("python", "Python ServerLocker pairs/s", "no Python package in this build")

    # The etcd backend, against etcd itself on the same member (bench-etcd).
    raw, backend, handover = get("etcd.raw.pair.us", "etcd.backend.pair.us", "etcd.handover.p50.us")
    if raw and backend:
        row("cluster", "etcd backend pairs/s, direct socket, library, 1 client, one path", rate(per_s(backend)),
            f"raw etcd pair (txn put-if-absent + deleterange) {rate(per_s(raw))}", raw / backend, (">=", 0.8))
    elif not raw:
        missing("cluster", "etcd backend pairs/s, direct socket, library, 1 client, one path", "etcd not available")
    n_req = v.get("etcd.backend.requests_per_pair")
    if n_req:
        row("cluster", "etcd requests per backend pair (KV requests in etcd's metrics, 1000 pairs)", f"{n_req:.2f}",
            "2 (admission txn + delete txn)", n_req / 2, ("<=", 1.0))
    if handover and raw:
        row("cluster", "etcd backend hand-over across two daemons, release call to the waiter's grant, median",
            us(handover), f"1 raw etcd pair {us(raw)}", handover / raw)

    # The alternatives.
    if redis1 and alt:
        row("others", "Redis SET NX PX + DEL, 1 client", rate(per_s(redis1)),
            f"pylockerd direct, library {rate(per_s(alt))}", alt / redis1)
    elif not redis1:
        missing("others", "Redis SET NX PX + DEL, 1 client", "redis-server not available")
    for n in (8, 64):
        r, ours = v.get(f"redis.{n}.rate"), v.get(f"distinct.wire.{n}.rate")
        if r and ours:
            row("others", f"Redis SET NX PX + DEL, {n} clients", rate(r),
                f"pylockerd direct, wire, {n} clients {rate(ours)}", r / ours)
    e = v.get("etcd.1.us")
    if e and alt:
        row("others", "etcd txn put-if-absent + lease, delete; 1 client", rate(per_s(e)),
            f"pylockerd direct, library {rate(per_s(alt))}", alt / e)
    elif not e:
        missing("others", "etcd txn put-if-absent + lease, delete; 1 client", "etcd not available")
    return out


def met(r):
    if r["target"] is None or r["ratio"] is None:
        return None
    op, bound = r["target"]
    return r["ratio"] <= bound if op == "<=" else r["ratio"] >= bound


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("results")
    ap.add_argument("json")
    ap.add_argument("--cores", type=int, default=0)
    ap.add_argument("--model", default="")
    ap.add_argument("--load", default="")
    ap.add_argument("--seconds", type=int, default=0)
    a = ap.parse_args()

    values, what = read_results(a.results)
    table = rows(values)
    date = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")

    lines = [f"{date}; {a.cores} cores ({a.model}); load {a.load} at the end; suite {a.seconds} s", "",
             "| | figure | compared with | ratio | target |", "|---|---:|---|---:|---|"]
    for r in table:
        ratio = "" if r["ratio"] is None else f"{r['ratio']:.2f}"
        target = ""
        if r["target"]:
            ok = met(r)
            target = f"{r['target'][0].replace('<=', '≤').replace('>=', '≥')} {r['target'][1]}: " + \
                ("met" if ok else "**missed**")
        label = r["label"] + (f" ({r['note']})" if r["note"] else "")
        lines.append(f"| {label} | {r['figure']} | {r['reference']} | {ratio} | {target} |")
    print("\n".join(lines))

    for r in table:
        r["met"] = met(r)
    with open(a.json, "w") as f:
        json.dump(dict(date=date, machine=dict(cores=a.cores, model=a.model), load=a.load, suite_seconds=a.seconds,
                       rows=table, results={k: dict(value=values[k], what=what[k]) for k in values}), f, indent=1)
        f.write("\n")
    print(f"\nJSON: {a.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
