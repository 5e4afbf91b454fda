#!/usr/bin/python3
"""Checks OpenMetrics text (as pylockctl stats --openmetrics writes it) against the format's rules
that matter to a scraper, and prints its samples as "NAME{LABELS} VALUE" lines for the caller to
check values. Exit 1 with the reason on stderr when the text is not valid.

Usage: check-openmetrics.py FILE
"""
import math
import re
import sys

NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
SAMPLE = re.compile(r"^(" + NAME + r")(\{(.*)\})? (\S+)$")
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"(,|$)')
SUFFIXES = {"counter": ["_total", "_created"], "gauge": [""], "unknown": [""],
            "histogram": ["_bucket", "_count", "_sum", "_created"]}


def fail(why):
    sys.stderr.write("invalid OpenMetrics: %s\n" % why)
    sys.exit(1)


def parse_labels(text):
    labels, pos = {}, 0
    while pos < len(text):
        m = LABEL.match(text, pos)
        if not m:
            fail("bad labels %r" % text)
        labels[m.group(1)] = m.group(2)
        pos = m.end()
    return labels


def main():
    text = open(sys.argv[1], encoding="utf-8").read()
    if not text.endswith("# EOF\n"):
        fail("does not end with '# EOF'")
    lines = text[:-len("# EOF\n")].split("\n")[:-1] if text != "# EOF\n" else []
    families, current, seen = {}, None, set()
    buckets = {}
    for line in lines:
        if line.startswith("#"):
            parts = line.split(" ", 3)
            if len(parts) < 4 or parts[1] not in ("TYPE", "HELP", "UNIT"):
                fail("bad metadata line %r" % line)
            name = parts[2]
            if parts[1] == "TYPE":
                if name in families:
                    fail("family %s declared twice" % name)
                if parts[3] not in SUFFIXES:
                    fail("type %r" % parts[3])
                families[name] = parts[3]
                current = name
            elif name != current:
                fail("%s for %s outside its family" % (parts[1], name))
            elif parts[1] == "UNIT" and not name.endswith("_" + parts[3]):
                fail("unit %s not the suffix of %s" % (parts[3], name))
            continue
        m = SAMPLE.match(line)
        if not m:
            fail("bad sample line %r" % line)
        name, labels, value = m.group(1), parse_labels(m.group(3) or ""), m.group(4)
        if current is None or not any(name == current + s for s in SUFFIXES[families[current]]):
            fail("sample %s outside its family (%s)" % (name, current))
        v = float(value)
        if math.isnan(v) or (families[current] in ("counter", "histogram") and v < 0):
            fail("bad value in %r" % line)
        key = (name, tuple(sorted(labels.items())))
        if key in seen:
            fail("duplicate sample %r" % line)
        seen.add(key)
        if name.endswith("_bucket") and families[current] == "histogram":
            le = labels.get("le")
            if le is None:
                fail("bucket without le: %r" % line)
            buckets.setdefault(current, []).append((float(le), v))
        print("%s%s %s" % (name, "{%s}" % ",".join('%s="%s"' % kv for kv in sorted(labels.items()))
                           if labels else "", value))
    for family, kind in families.items():
        if kind != "histogram":
            continue
        b = buckets.get(family, [])
        if not b or b[-1][0] != math.inf:
            fail("%s has no +Inf bucket last" % family)
        if any(b[i][0] >= b[i + 1][0] or b[i][1] > b[i + 1][1] for i in range(len(b) - 1)):
            fail("%s buckets not increasing and cumulative" % family)
        counts = [l for l in lines if l.startswith(family + "_count ")]
        if not counts or float(counts[0].split()[1]) != b[-1][1]:
            fail("%s_count is not its +Inf bucket" % family)


main()
