"""Print per-module counts from run.sh results; exit 1 on any failure, error or empty module."""

import os
import re
import sys
import xml.etree.ElementTree as ET


def counts(path):
    root = ET.parse(path).getroot()
    suites = [root] if root.tag == "testsuite" else list(root.iter("testsuite"))
    c = dict(tests=0, failures=0, errors=0, skipped=0)
    for s in suites:
        for k in c:
            c[k] += int(s.get(k, 0))
    return c


def counts_from_log(path):
    """fallback when pytest died before writing its XML: count the -v result lines"""
    c = dict(tests=0, failures=0, errors=0, skipped=0)
    seen = {}
    for line in open(path, errors="replace"):
        m = re.match(r"^(\S+::\S+) (PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS)", line)
        if m:
            # a test can report twice (call FAILED, teardown ERROR): keep the worst
            seen[m.group(1)] = max(seen.get(m.group(1), ""), m.group(2), key=_rank)
    for outcome in seen.values():
        c["tests"] += 1
        if outcome == "FAILED":
            c["failures"] += 1
        elif outcome == "ERROR":
            c["errors"] += 1
        elif outcome in ("SKIPPED", "XFAIL"):
            c["skipped"] += 1
    return c


def _rank(outcome):
    return ["", "PASSED", "XPASS", "XFAIL", "SKIPPED", "ERROR", "FAILED"].index(outcome)


def main():
    out, modules = sys.argv[1], [m[:-3] if m.endswith(".py") else m for m in sys.argv[2:]]
    bad = False
    tot = dict(tests=0, passed=0, failures=0, errors=0, skipped=0)
    print(f"{'module':24} {'run':>5} {'passed':>6} {'failed':>6} {'errors':>6} {'skipped':>7}")
    for m in modules:
        xml = os.path.join(out, m + ".xml")
        rc_file = os.path.join(out, m + ".rc")
        rc = int(open(rc_file).read()) if os.path.exists(rc_file) else None
        log = os.path.join(out, m + ".log")
        if os.path.exists(xml):
            c = counts(xml)
        elif os.path.exists(log):
            c = counts_from_log(log)
        else:
            print(f"{m:24} no results (exit {rc})")
            bad = True
            continue
        c["passed"] = c["tests"] - c["failures"] - c["errors"] - c["skipped"]
        for k in tot:
            tot[k] += c[k]
        note = ""
        # pytest exit 5 = nothing collected; anything but 0 is a failure
        if rc not in (0,):
            bad = True
            note = f"  (exit {rc})"
        print(
            f"{m:24} {c['tests']:5} {c['passed']:6} {c['failures']:6} {c['errors']:6} {c['skipped']:7}{note}"
        )
    print(
        f"{'total':24} {tot['tests']:5} {tot['passed']:6} {tot['failures']:6} {tot['errors']:6} {tot['skipped']:7}"
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
