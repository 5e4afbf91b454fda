#!/usr/bin/python3
# Writes the seed corpora of fuzz-wire (frame streams of each message type, docs/wire.md) and of
# fuzz-wire-server (the requests among them, as a client's stream: preamble, HELLO, requests).
import os
import struct
import sys

def u16(v): return struct.pack("<H", v)
def u32(v): return struct.pack("<I", v)
def u64(v): return struct.pack("<Q", v)
def s(t): b = t.encode(); return u32(len(b)) + b + b"\0"
def sv(*ts): return u32(len(ts)) + b"".join(s(t) for t in ts)
ID = bytes(range(16))

def frame(type_, serial, body=b"", flags=0):
    return u32(len(body)) + u16(type_) + u16(flags) + u32(serial) + body

PREAMBLE = b"PLKW" + u16(1) + u16(1)
seeds = {
    "session": PREAMBLE + frame(0x01, 1, u64(0) + s("job")) +
               frame(0x03, 2, u64(0) + u64(0) + u64(0) + sv("/a")) +
               frame(0x04, 3, ID, flags=1) + frame(0x12, 4),
    "acquire-shared": frame(0x03, 5, u64(0xb) + u64(10**6) + u64(5 * 10**6) + sv("/x", "/y", "/ü")),
    "refresh": frame(0x05, 6, ID + u64(10**6)),
    "publish": frame(0x06, 7, u64(5) + u64(0) + s("hello") + sv(":1.4", "worker")),
    "inbox": frame(0x07, 8) + frame(0x08, 9, s("m")) + frame(0x09, 10, s("m")) +
             frame(0x0a, 11, s("m")) + frame(0x0b, 12, s("m") + sv("direct-1")),
    "lists": frame(0x0c, 13) + frame(0x0d, 14) + frame(0x0e, 15),
    "admin": frame(0x0f, 16, ID) + frame(0x10, 17, u64(60 * 10**6)) + frame(0x11, 18, u64(10**6)) +
             frame(0x02, 19, u64(0) + s("renamed")),
    "replies": frame(0x40, 1) +
               frame(0x41, 1, u16(1) + s("direct-1") + s("2.0") + u64(1) + u64(2) + u32(65536) + u32(64) + u32(256)) +
               frame(0x42, 2, ID + u64(7) + u64(8)) + frame(0x43, 3, u64(1)) + frame(0x44, 4, s("p1")) +
               frame(0x45, 5, u32(1) + s("m") + s("p") + s(":1.2") + s("") + u64(1) + u64(0)) +
               frame(0x46, 6, u32(1) + ID + sv("/a", "/b") + s(":1.3") + s("n") + u64(9) + b"\1" + u64(1) + u64(2)) +
               frame(0x47, 7, u32(1) + s("direct-1") + s("") + u32(1000) + u32(42) + s("bus")) +
               frame(0x48, 8, s("2.0") + u64(1) + u64(2) + u32(3) + u32(4) + u32(5)) +
               frame(0x7f, 9, s("org.pylocker.Locker.Error.Timeout") + s("Timed out")),
    "events": frame(0x80, 0, ID + u32(1)) + frame(0x81, 0, s("p") + s(":1.2") + s("m") + u64(0)),
    "stats": frame(0x13, 20) + frame(0x13, 21, flags=1),
    "stats-reply": frame(0x49, 20, u32(2) + s("grants") + u64(3) + s("queued_bytes") + u64(0) +
                             u32(2) + s("wait_time_usec") + u64(3) + u64(9) + u32(3) + u64(1) + u64(0) + u64(2) +
                             s("hold_time_usec") + u64(0) + u64(0) + u32(0) +
                             u32(1) + s("/a") + u64(2)),
}

HELLO = PREAMBLE + frame(0x01, 1, u64(0) + s("fuzz"))
requests = {name: data for name, data in seeds.items() if name not in ("replies", "events", "stats-reply")}
requests["session"] = seeds["session"]
requests["pipelined"] = HELLO + b"".join(frame(0x03, 100 + i, u64(0) + u64(1000) + u64(0) + sv(f"/p/{i % 3}"))
                                         for i in range(8))
requests["bad-then-good"] = HELLO + frame(0x3e, 2) + frame(0x03, 3, u64(1 << 9)) + frame(0x12, 4)

base = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
for directory, corpus in ((sys.argv[1] if len(sys.argv) > 1 else os.path.join(base, "wire"), seeds),
                          (sys.argv[2] if len(sys.argv) > 2 else os.path.join(base, "wire-server"), requests)):
    os.makedirs(directory, exist_ok=True)
    for name, data in corpus.items():
        if directory.endswith("wire-server") and not data.startswith(PREAMBLE):
            data = HELLO + data
        with open(os.path.join(directory, name), "wb") as f:
            f.write(data)
