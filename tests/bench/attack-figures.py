#!/usr/bin/python3
"""What an unprivileged local user's attack does to a healthy client of pylockerd.

    attack-figures.py PYLOCKERD ATTACK [--runs N] [--set KEY=VALUE ...] [--json FILE]

Starts a private dbus-daemon (tests/data/session.conf) and the given pylockerd on it, with its direct
socket in a temporary directory; runs a healthy client (root, on the bus) that does Acquire/Release
pairs one after the other and times each call; runs the attacker as an unprivileged user the script
creates (and deletes); samples the daemon's VmRSS/VmHWM from /proc/PID/status every 50 ms; then
sends SIGTERM and times the stop. Every process it starts is stopped by its PID.

ATTACK is one of:
  receivers   one Publish on the bus naming 400 000 receivers (about 3 MB)
  nonreader   a D-Bus peer on the direct socket (root's, see attack_nonreader) registers and stops
              reading (SIGSTOP) while two
              publishers on the bus send it 64 KiB messages for 10 s
  biglocks    two direct-socket clients of one user take locks of 256 paths of 4 KiB until refused
              or --locks each, and are SIGKILLed; the teardown is timed
  connections one user opens 4096 direct-socket connections (D-Bus authenticated) and keeps them
              idle; root and a second user then try to connect and Acquire

Needs root and python3-dbus. A benchmark tool: it asserts nothing, it prints figures.
"""
import argparse
import json
import os
import pwd
import resource
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

import dbus
import dbus.bus
import dbus.connection

NAME = "org.pylocker.Locker"
PATH = "/org/pylocker/Locker"
IFACE = "org.pylocker.Locker"
HERE = os.path.dirname(os.path.abspath(__file__))
SESSION_CONF = os.path.join(HERE, "..", "data", "session.conf")


# ---- helpers shared by the roles -------------------------------------------------------------------

def call(conn, method, sig, args, timeout=600.0, dest=NAME):
    return conn.call_blocking(dest, PATH, IFACE, method, sig, args, timeout=timeout)


def connect(args):
    """A connection as the role's arguments say: the bus (by address) or the direct socket."""
    if args.direct:
        return dbus.connection.Connection("unix:path=" + args.direct), None
    return dbus.bus.BusConnection(args.bus), NAME


def drop_to(user):
    pw = pwd.getpwnam(user)

    def fn():
        os.setgroups([])
        os.setresgid(pw.pw_gid, pw.pw_gid, pw.pw_gid)
        os.setresuid(pw.pw_uid, pw.pw_uid, pw.pw_uid)
    return fn


def say(*words):
    print(*words, flush=True)


# ---- roles, run as child processes of this script --------------------------------------------------

def role_healthy(args):
    """Acquire/Release pairs until stdin closes; then one line of JSON: [start, acquire_s, release_s]."""
    conn, dest = connect(args)
    samples = []
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    say("ready")
    while not stop.is_set():
        t0 = time.monotonic()
        lock_id, _ = call(conn, "Acquire", "asta{sv}", (["/healthy/a"], 0, {}), dest=dest)
        t1 = time.monotonic()
        call(conn, "Release", "s", (lock_id,), dest=dest)
        t2 = time.monotonic()
        samples.append((t0, t1 - t0, t2 - t1))
    say(json.dumps(samples))


def role_receivers(args):
    """One Publish naming args.count receivers, none of them a client."""
    conn, dest = connect(args)
    receivers = dbus.Array(["r%06d" % i for i in range(args.count)], signature="s")
    say("ready")
    sys.stdin.readline()
    t0 = time.monotonic()
    try:
        call(conn, "Publish", "sasta{sv}", ("x", receivers, 0, {}), dest=dest)
        outcome = "published"
    except dbus.DBusException as e:
        outcome = e.get_dbus_name()
    say(json.dumps({"reply_s": time.monotonic() - t0, "outcome": outcome}))


def role_register(args):
    """Registers on the direct socket, prints its client id, then waits to be stopped."""
    conn, dest = connect(args)
    client_id = call(conn, "Register", "s", ("nonreader",), dest=dest)
    say(str(client_id))
    sys.stdin.readline()


def role_publisher(args):
    """Publishes 64 KiB messages to args.to until stdin closes; prints how many went and how."""
    conn, dest = connect(args)
    text = "m" * 65000
    counts = {}
    stop = threading.Event()
    threading.Thread(target=lambda: (sys.stdin.read(), stop.set()), daemon=True).start()
    say("ready")
    while not stop.is_set():
        try:
            call(conn, "Publish", "sasta{sv}", (text, [args.to], 0, {"to_self": False}), timeout=30,
                 dest=dest)
            outcome = "ok"
        except dbus.DBusException as e:
            outcome = e.get_dbus_name()
            time.sleep(0.001)
        counts[outcome] = counts.get(outcome, 0) + 1
    say(json.dumps(counts))


def role_biglocks(args):
    """Takes locks of args.paths paths of 4 KiB until refused or args.count; prints how many."""
    conn, dest = connect(args)
    pad = "p" * 4000
    granted, refusal = 0, None
    while granted < args.count:
        paths = ["/%s/%d/%d/%s" % (args.tag, granted, i, pad) for i in range(args.paths)]
        try:
            call(conn, "Acquire", "asta{sv}", (paths, 0, {}), dest=dest)
        except dbus.DBusException as e:
            refusal = "%s: %s" % (e.get_dbus_name(), e.get_dbus_message())
            break
        granted += 1
    say(json.dumps({"granted": granted, "refusal": refusal}))
    sys.stdin.readline()


def dbus_auth(sock, uid):
    sock.sendall(b"\0AUTH EXTERNAL " + str(uid).encode().hex().encode() + b"\r\n")
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(256)
        if not chunk:
            return False
        line += chunk
    if not line.startswith(b"OK "):
        return False
    sock.sendall(b"BEGIN\r\n")
    return True


def role_connections(args):
    """Opens args.count connections to the direct socket, authenticated as D-Bus peers, keeps them."""
    socks, failed = [], 0
    for _ in range(args.count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(5)
        try:
            s.connect(args.direct)
            if dbus_auth(s, os.getuid()):
                socks.append(s)
                continue
        except OSError:
            pass
        failed += 1
        s.close()
    # Which of them the daemon closed since.
    time.sleep(1)
    alive = 0
    for s in socks:
        s.setblocking(False)
        try:
            alive += 0 if s.recv(1) == b"" else 1
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    say(json.dumps({"opened": len(socks), "refused": failed, "kept": alive}))
    sys.stdin.readline()


def role_probe(args):
    """Connects to the direct socket and does one Acquire/Release; prints what happened."""
    def give_up(*_):
        raise TimeoutError("no answer within 15 s")

    # connect() itself blocks when the daemon no longer accepts.
    signal.signal(signal.SIGALRM, give_up)
    signal.alarm(15)
    t0 = time.monotonic()
    try:
        conn, dest = connect(args)
        lock_id, _ = call(conn, "Acquire", "asta{sv}", (["/probe"], 0, {}), timeout=10, dest=dest)
        call(conn, "Release", "s", (lock_id,), timeout=10, dest=dest)
        outcome = "ok"
    except dbus.DBusException as e:
        outcome = "%s: %s" % (e.get_dbus_name(), e.get_dbus_message())
    except Exception as e:
        outcome = str(e)
    signal.alarm(0)
    say(json.dumps({"outcome": outcome, "seconds": round(time.monotonic() - t0, 3)}))


ROLES = {
    "healthy": role_healthy, "receivers": role_receivers, "register": role_register,
    "publisher": role_publisher, "biglocks": role_biglocks, "connections": role_connections,
    "probe": role_probe,
}


# ---- the orchestrator ------------------------------------------------------------------------------

class Child:
    """A role in a child process, optionally as another user; talked to by lines on stdin/stdout."""

    def __init__(self, role, user=None, **kw):
        argv = [sys.executable, os.path.abspath(__file__), "--role", role]
        for k, v in kw.items():
            argv += ["--" + k, str(v)]
        pre = drop_to(user) if user else None

        def preexec():
            resource.setrlimit(resource.RLIMIT_NOFILE, (8192, 8192))
            if pre:
                pre()
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
                                  preexec_fn=preexec)

    def line(self):
        return self.p.stdout.readline().strip()

    def tell(self, text="go"):
        self.p.stdin.write(text + "\n")
        self.p.stdin.flush()

    def finish(self):
        """Closes its stdin and reads its last line."""
        try:
            self.p.stdin.close()
        except OSError:
            pass
        out = self.p.stdout.read().strip().splitlines()
        self.p.wait()
        return out[-1] if out else ""

    def kill(self):
        if self.p.poll() is None:
            os.kill(self.p.pid, signal.SIGKILL)
        self.p.wait()


def read_status(pid):
    vals = {}
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith(("VmRSS:", "VmHWM:")):
                    vals[line.split(":")[0]] = int(line.split()[1]) / 1024.0  # MiB
    except OSError:
        pass
    return vals


class Sampler(threading.Thread):
    def __init__(self, pid):
        super().__init__(daemon=True)
        self.pid, self.peak, self.stop = pid, 0.0, threading.Event()

    def run(self):
        while not self.stop.wait(0.05):
            rss = read_status(self.pid).get("VmRSS", 0.0)
            self.peak = max(self.peak, rss)


class Setup:
    """A private dbus-daemon and pylockerd on it, in a temporary directory open to other users."""

    def __init__(self, daemon, settings):
        self.tmp = tempfile.mkdtemp(prefix="pylocker-attack-")
        os.chmod(self.tmp, 0o755)
        self.direct = os.path.join(self.tmp, "private")
        self.bus_p = subprocess.Popen(["dbus-daemon", "--nofork", "--print-address=1",
                                       "--config-file=" + SESSION_CONF],
                                      stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
        self.bus = self.bus_p.stdout.readline().strip()
        conf = os.path.join(self.tmp, "pylockerd.conf")
        with open(conf, "w") as f:
            f.write("[Locker]\n" + "".join(s + "\n" for s in settings))
        notify = os.path.join(self.tmp, "notify")
        ns = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        ns.bind(notify)
        ns.settimeout(30)
        env = dict(os.environ, NOTIFY_SOCKET=notify)
        self.log = open(os.path.join(self.tmp, "pylockerd.log"), "w")
        self.daemon_p = subprocess.Popen([daemon, "--address", self.bus, "--config", conf,
                                          "--private-socket=" + self.direct],
                                         env=env, stdout=self.log, stderr=self.log)
        got = b""
        while b"READY=1" not in got:
            got += ns.recv(4096)
        ns.close()
        self.pid = self.daemon_p.pid
        self.root = dbus.bus.BusConnection(self.bus)

    def stats(self, timeout=600):
        return call(self.root, "GetStatistics", "", (), timeout=timeout)

    def sigterm(self, limit=30.0):
        t0 = time.monotonic()
        os.kill(self.pid, signal.SIGTERM)
        try:
            self.daemon_p.wait(limit)
            return time.monotonic() - t0
        except subprocess.TimeoutExpired:
            os.kill(self.pid, signal.SIGKILL)
            self.daemon_p.wait()
            return None

    def close(self):
        if self.daemon_p.poll() is None:
            os.kill(self.daemon_p.pid, signal.SIGKILL)
            self.daemon_p.wait()
        self.root.close()
        os.kill(self.bus_p.pid, signal.SIGTERM)
        self.bus_p.wait()
        self.log.close()
        subprocess.run(["rm", "-rf", self.tmp])


def latencies(samples, t_from, t_to):
    """Worst and median Acquire and Release latency, in ms, of the pairs started in [t_from, t_to]."""
    sel = [s for s in samples if t_from <= s[0] <= t_to]
    # A pair started just before the window and still in flight in it counts too.
    sel += [s for s in samples if s[0] < t_from and s[0] + s[1] + s[2] > t_from]
    if not sel:
        return {"pairs": 0}
    acq = [s[1] * 1e3 for s in sel]
    rel = [s[2] * 1e3 for s in sel]
    return {"pairs": len(sel), "acquire_max_ms": round(max(acq), 1), "acquire_p50_ms": round(statistics.median(acq), 3),
            "release_max_ms": round(max(rel), 1), "release_p50_ms": round(statistics.median(rel), 3)}


def settle(setup, seconds=2.0):
    time.sleep(seconds)
    st = read_status(setup.pid)
    return {"rss_after_mib": round(st.get("VmRSS", 0), 1), "hwm_mib": round(st.get("VmHWM", 0), 1)}


def attack_receivers(setup, args, users):
    atk = Child("receivers", users[0], bus=setup.bus, count=400000)
    assert atk.line() == "ready"
    t0 = time.monotonic()
    atk.tell()
    res = json.loads(atk.line())
    t1 = time.monotonic()
    atk.finish()
    return t0, t1, {"publish_reply_s": round(res["reply_s"], 2), "publish_outcome": res["outcome"]}


def attack_nonreader(setup, args, users):
    # As root: at 842f203 an unprivileged D-Bus peer on the direct socket got no answer at all (nor,
    # while the healthy client kept the daemon busy on the bus, did root's). The output cap does not
    # look at the uid.
    reader = Child("register", None, direct=setup.direct)
    client_id = reader.line()
    os.kill(reader.p.pid, signal.SIGSTOP)
    pubs = [Child("publisher", None, bus=setup.bus, to=client_id) for _ in range(2)]
    for p in pubs:
        assert p.line() == "ready"
    t0 = time.monotonic()
    time.sleep(args.seconds)
    counts = [json.loads(p.finish()) for p in pubs]
    t1 = time.monotonic()
    extra = {"publications": {}}
    for c in counts:
        for k, v in c.items():
            extra["publications"][k] = extra["publications"].get(k, 0) + v
    extra["_cleanup"] = lambda: (os.kill(reader.p.pid, signal.SIGKILL), reader.p.wait())
    return t0, t1, extra


def attack_biglocks(setup, args, users):
    atks = [Child("biglocks", users[0], direct=setup.direct, count=args.locks, paths=256, tag="u%d" % i)
            for i in range(2)]
    t_fill = time.monotonic()
    results = [json.loads(a.line()) for a in atks]
    fill_s = time.monotonic() - t_fill
    peak = read_status(setup.pid).get("VmRSS", 0)
    locks = int(setup.stats().get("locks", 0))
    t0 = time.monotonic()
    for a in atks:
        a.kill()
    # Torn down when the daemon holds only what the healthy client may hold.
    while int(setup.stats().get("locks", 0)) > 1:
        time.sleep(0.01)
    t1 = time.monotonic()
    return t0, t1, {"granted": [r["granted"] for r in results], "refusal": results[0]["refusal"] or
                    results[1]["refusal"], "locks_held": locks, "fill_s": round(fill_s, 1),
                    "rss_held_mib": round(peak, 1), "teardown_s": round(t1 - t0, 2)}


def attack_connections(setup, args, users):
    atk = Child("connections", users[0], direct=setup.direct, count=4096)
    t0 = time.monotonic()
    held = json.loads(atk.line())
    probes = {}
    for who, user in (("root", None), ("other_user", users[1])):
        pr = Child("probe", user, direct=setup.direct)
        probes[who] = json.loads(pr.finish())
    t1 = time.monotonic()
    extra = {"attacker": held, "probes": probes}
    extra["_cleanup"] = lambda: atk.kill()
    return t0, t1, extra


ATTACKS = {"receivers": attack_receivers, "nonreader": attack_nonreader, "biglocks": attack_biglocks,
           "connections": attack_connections}


def one_run(args, users):
    setup = Setup(args.daemon, args.set)
    try:
        healthy = Child("healthy", None, bus=setup.bus)
        assert healthy.line() == "ready"
        sampler = Sampler(setup.pid)
        sampler.start()
        time.sleep(0.5)
        t0, t1, extra = ATTACKS[args.attack](setup, args, users)
        sampler.stop.set()
        sampler.join()
        samples = json.loads(healthy.finish())
        cleanup = extra.pop("_cleanup", None)
        result = {"attack_s": round(t1 - t0, 2), "rss_peak_mib": round(sampler.peak, 1)}
        result.update(latencies(samples, t0, t1))
        result.update(extra)
        result.update(settle(setup, 1.0))
        stop = setup.sigterm()
        result["sigterm_s"] = round(stop, 3) if stop is not None else "not within 30 s"
        if cleanup:
            cleanup()
        return result
    finally:
        setup.close()


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--role")
    ap.add_argument("--bus")
    ap.add_argument("--direct")
    ap.add_argument("--count", type=int)
    ap.add_argument("--paths", type=int)
    ap.add_argument("--tag")
    ap.add_argument("--to")
    ap.add_argument("daemon", nargs="?")
    ap.add_argument("attack", nargs="?", choices=sorted(ATTACKS))
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a [Locker] setting for the daemon's configuration file")
    ap.add_argument("--locks", type=int, default=4096, help="biglocks: locks per attacking client at most")
    ap.add_argument("--seconds", type=float, default=10.0, help="nonreader: how long the publishers run")
    ap.add_argument("--json", help="append each run's result to this file, one JSON object a line")
    args = ap.parse_args()
    if args.role:
        ROLES[args.role](args)
        return
    if not args.daemon or not args.attack:
        ap.error("PYLOCKERD and ATTACK are needed")
    if os.geteuid() != 0:
        sys.exit("needs root: it creates users to attack from")
    args.daemon = os.path.abspath(args.daemon)
    users = ["pylkat%da" % os.getpid(), "pylkat%db" % os.getpid()]
    for u in users:
        subprocess.run(["useradd", "-M", "-N", "-s", "/usr/sbin/nologin", u], check=True)
    try:
        for n in range(args.runs):
            res = one_run(args, users)
            res = {"daemon": args.daemon, "attack": args.attack, "settings": args.set, "run": n + 1, **res}
            say(json.dumps(res))
            if args.json:
                with open(args.json, "a") as f:
                    f.write(json.dumps(res) + "\n")
    finally:
        for u in users:
            subprocess.run(["userdel", u])


if __name__ == "__main__":
    main()
