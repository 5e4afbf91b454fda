#!/usr/bin/python3
# Writes the seed corpus of fuzz-bridge: D-Bus sessions a bridge peer could send after its handshake.
import struct
import sys

def pad(b, n):
    return b + b"\0" * ((-len(b)) % n)

class W:
    def __init__(self, start=0):
        self.b = bytearray()
        self.start = start
    def align(self, n):
        while (self.start + len(self.b)) % n:
            self.b += b"\0"
    def u32(self, v):
        self.align(4); self.b += struct.pack("<I", v)
    def u64(self, v):
        self.align(8); self.b += struct.pack("<Q", v)
    def string(self, s):
        s = s.encode(); self.u32(len(s)); self.b += s + b"\0"
    def sig(self, s):
        s = s.encode(); self.b += bytes([len(s)]) + s + b"\0"
    def byte(self, v):
        self.b += bytes([v])
    def boolean(self, v):
        self.u32(1 if v else 0)

def message(serial, member, signature="", body_writer=None):
    body = W(0)
    if body_writer:
        body_writer(body)
    fields = W(16)
    def field(code, sigchar, writer):
        fields.align(8); fields.byte(code); fields.sig(sigchar); writer(fields)
    field(1, "o", lambda w: w.string("/org/pylocker/Locker"))
    field(2, "s", lambda w: w.string("org.pylocker.Locker"))
    field(3, "s", lambda w: w.string(member))
    if signature:
        field(8, "g", lambda w: w.sig(signature))
    fb = bytes(fields.b)
    head = b"l" + bytes([1, 0, 1]) + struct.pack("<III", len(body.b), serial, len(fb))
    return pad(head + fb, 8) + bytes(body.b)

def strings_array(w, items):
    w.u32(0)
    pos = len(w.b) - 4
    w.align(4)
    start = len(w.b)
    for s in items:
        w.string(s)
    struct.pack_into("<I", w.b, pos, len(w.b) - start)

def empty_dict(w):
    w.u32(0); w.align(8)

AUTH = b"\0AUTH ANONYMOUS 616e6f6e796d6f7573\r\nBEGIN\r\n"

def register(w): w.string("fuzzer")
def acquire(w): strings_array(w, ["/a", "/b"]); w.u64(1000); empty_dict(w)
def acquire_nb(w):
    strings_array(w, ["/a"]); w.u64(0)
    # a{sv} with nonblocking=true
    w.u32(0); pos = len(w.b) - 4; w.align(8); start = len(w.b)
    w.align(8); w.string("nonblocking"); w.sig("b"); w.boolean(True)
    struct.pack_into("<I", w.b, pos, len(w.b) - start)
def publish(w): w.string("hello"); strings_array(w, []); w.u64(0); empty_dict(w)
def release(w): w.string("00112233445566778899aabbccddeeff")
def has(w): w.string("hello")

seeds = {
    "register": AUTH + message(1, "Register", "s", register),
    "acquire": AUTH + message(1, "Acquire", "asta{sv}", acquire) + message(2, "ListLocks"),
    "acquire-nonblocking": AUTH + message(1, "Acquire", "asta{sv}", acquire_nb) + message(2, "Release", "s", release),
    "publish": AUTH + message(1, "Register", "s", register) + message(2, "Publish", "sasta{sv}", publish) +
               message(3, "HasMessage", "s", has) + message(4, "PopMessage", "s", has),
    "list": AUTH + message(1, "ListClients") + message(2, "ListMessages") + message(3, "ForceRelease", "s", release),
    "auth-only": AUTH,
    "parsers": b"\xff[::1]:3000",
}
out = sys.argv[1] if len(sys.argv) > 1 else "corpus/bridge"
for name, data in seeds.items():
    with open(f"{out}/{name}", "wb") as f:
        f.write(data)
