#!/usr/bin/python3
"""The library's ABI in three places must agree: the functions the public headers declare, the
version script, and what the built library exports. Also: the soname, one version node for every
symbol, and headers that compile as C89. Speaks TAP.

Usage: check-abi.py --sym FILE --include DIR --library SO --nm NM --readelf READELF --cc CC [ARG...]
"""
import argparse
import glob
import os
import re
import subprocess
import sys
import tempfile

SONAME = "libpylocker-dbus.so.1"
# The version nodes, oldest first; each inherits the one before it.
NODES = ["PYLOCKER_1.0", "PYLOCKER_1.1", "PYLOCKER_1.2"]

results = []


def check(what, ok, detail=""):
    results.append((what, ok, detail))


def strip_comments(text):
    text = re.sub(r"/\*.*?\*/", " ", text, flags=re.S)
    return re.sub(r"//[^\n]*", " ", text)


def header_functions(include_dir):
    """Every pylocker_* function the public headers declare (macros and comments left out)."""
    names = set()
    for path in sorted(glob.glob(os.path.join(include_dir, "pylocker", "*.h"))):
        text = strip_comments(open(path, encoding="utf-8").read())
        # Preprocessor lines, with their continuations: macro bodies name functions without
        # declaring them.
        text = re.sub(r"^[ \t]*#(?:[^\n]*\\\n)*[^\n]*", " ", text, flags=re.M)
        names.update(re.findall(r"\b(pylocker_\w+)\s*\(", text))
    return names


def version_script(path):
    """{node: set(global symbols)} of the version script, in its order, and {node: the node it inherits}."""
    text = strip_comments(open(path, encoding="utf-8").read())
    nodes, parents = {}, {}
    for node, body, parent in re.findall(r"([A-Za-z_][\w.]*)\s*\{(.*?)\}\s*([\w.]*)\s*;", text, flags=re.S):
        glob_part = body.split("local:")[0].replace("global:", "")
        nodes[node] = {s.strip() for s in glob_part.split(";") if s.strip()}
        parents[node] = parent or None
    return nodes, parents


def exported(nm, library):
    """[(name, type, version)] of the library's defined dynamic symbols."""
    out = subprocess.run([nm, "-D", "--defined-only", library], check=True, capture_output=True,
                         text=True).stdout
    symbols = []
    for line in out.splitlines():
        fields = line.split()
        if len(fields) < 3:
            continue
        name, _, version = fields[2].partition("@")
        symbols.append((name, fields[1], version.lstrip("@")))
    return symbols


def soname(readelf, library):
    out = subprocess.run([readelf, "-d", library], check=True, capture_output=True, text=True).stdout
    m = re.search(r"\(SONAME\).*\[(.*)\]", out)
    return m.group(1) if m else None


def compiles(cc, include_dir, source, flags):
    with tempfile.TemporaryDirectory() as tmp:
        path = os.path.join(tmp, "check.c")
        with open(path, "w", encoding="utf-8") as f:
            f.write(source)
        p = subprocess.run(cc + flags + ["-I", include_dir, "-fsyntax-only", path], capture_output=True,
                           text=True)
        return p.returncode == 0, p.stderr


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--sym", required=True)
    ap.add_argument("--include", required=True)
    ap.add_argument("--library", required=True)
    ap.add_argument("--nm", required=True)
    ap.add_argument("--readelf", required=True)
    ap.add_argument("--cc", nargs=argparse.REMAINDER, required=True)
    a = ap.parse_args()

    declared = header_functions(a.include)
    nodes, parents = version_script(a.sym)
    listed = set().union(*nodes.values()) if nodes else set()
    node_of = {name: node for node, names in nodes.items() for name in names}
    symbols = exported(a.nm, a.library)
    functions = {name for name, kind, _ in symbols if kind in "TtWi"}

    check("the headers declare pylocker_* functions", len(declared) > 0, "none found")
    check(f"the version script's nodes are {', '.join(NODES)}", list(nodes) == NODES, f"nodes: {list(nodes)}")
    expected_parents = {node: NODES[i - 1] if i else None for i, node in enumerate(NODES)}
    check("each node inherits the one before it", parents == expected_parents, f"inherits: {parents}")
    twice = sorted(name for name in listed if sum(name in names for names in nodes.values()) > 1)
    check("no symbol is in two nodes", not twice, "twice: " + " ".join(twice))
    check("every function the headers declare is in the version script", declared <= listed,
          "missing: " + " ".join(sorted(declared - listed)))
    check("the version script lists nothing the headers do not declare", listed <= declared,
          "not declared: " + " ".join(sorted(listed - declared)))
    check("the library exports every function of the version script", listed <= functions,
          "not exported: " + " ".join(sorted(listed - functions)))
    others = sorted(f"{name} ({kind})" for name, kind, version in symbols
                    if name not in listed and not (name in NODES and kind == "A"))
    check("the library exports nothing else", not others, "also exported: " + " ".join(others))
    misversioned = sorted(f"{name}@{version}" for name, _, version in symbols
                          if name in listed and version != node_of[name])
    check("every exported function has the version of its node", not misversioned,
          "other version: " + " ".join(misversioned))
    name = soname(a.readelf, a.library)
    check(f"the soname is {SONAME}", name == SONAME, f"soname: {name}")

    ok, err = compiles(a.cc, a.include, "#include <pylocker/pylocker.h>\nint pylocker_check_c89;\n",
                       ["-std=c89", "-pedantic-errors", "-Wall", "-Wextra", "-Werror"])
    check("the headers compile as C89 (-pedantic-errors)", ok, err)
    ok, err = compiles(a.cc, a.include,
                       "#include <pylocker/pylocker.h>\n"
                       "int main(void) {\n"
                       "        PYLOCKER_CLEANUP_LOCKER PylockerLocker *locker = NULL;\n"
                       "        PYLOCKER_CLEANUP_LOCK PylockerLock *lock = NULL;\n"
                       "        PYLOCKER_CLEANUP_STRV char **strv = NULL;\n"
                       "        PYLOCKER_CLEANUP_STRING char *s = NULL;\n"
                       "        PYLOCKER_CLEANUP_FILE_LOCK PylockerFileLock *f = NULL;\n"
                       "        (void) locker; (void) lock; (void) strv; (void) s; (void) f;\n"
                       "        return 0;\n"
                       "}\n",
                       ["-std=gnu99", "-Wall", "-Wextra", "-Werror"])
    check("the cleanup macros compile (gnu99)", ok, err)

    print(f"1..{len(results)}")
    failed = 0
    for i, (what, ok, detail) in enumerate(results, 1):
        print(f"{'ok' if ok else 'not ok'} {i} - {what}")
        if not ok:
            failed += 1
            for line in detail.strip().splitlines():
                print(f"# {line}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
