"""Checks a finished distributed Locust run (tests/load/run) from both sides,
and prints its figures.

Locust's statistics (the master's --csv): no failure; every change POSTed;
every user up to date at its stop with the final tool count; re-lists
recorded. The server's GET /metrics: every change counted; every session
that was open at a change was told of it and re-listed it to the end (a
2026-07-28 user's stateless re-lists are credited to its listen stream, each
user naming itself); none missed; every session
closed; and the server answered exactly the requests Locust made.

Standard library only: it runs with any python3.
"""

import argparse
import csv
import sys
import time
import urllib.request

HANDSHAKE = "2025-11-25"
STATELESS = "2026-07-28"
REFRESH = "refresh after list_changed"


def scrape(control):
    """GET /metrics as {(name, frozenset(labels)): value}."""
    with urllib.request.urlopen(f"{control}/metrics", timeout=10) as response:
        text = response.read().decode()
    lines = text.splitlines()
    assert lines[-1] == "# EOF", lines[-3:]
    samples = {}
    for line in lines:
        if line.startswith("#"):
            continue
        series, value = line.rsplit(" ", 1)
        name, _, labels = series.partition("{")
        pairs = frozenset(
            tuple(pair.split("=", 1)) for pair in labels.rstrip("}").split(",") if pair
        )
        samples[(name, frozenset((k, v.strip('"')) for k, v in pairs))] = float(value)
    return text, samples


def total(samples, name, **labels):
    """The sum of family `name`'s samples whose labels include `labels`."""
    want = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and want <= ls)


def bucket_quantile(samples, name, q, **labels):
    """The upper bound of the histogram bucket holding quantile q."""
    buckets = sorted(
        (float("inf") if dict(ls)["le"] == "+Inf" else float(dict(ls)["le"]), v)
        for (n, ls), v in samples.items()
        if n == f"{name}_bucket" and set(labels.items()) <= ls
    )
    merged = {}
    for le, v in buckets:
        merged[le] = merged.get(le, 0) + v
    count = max(merged.values(), default=0)
    for le in sorted(merged):
        if merged[le] >= q * count and count:
            return le
    return None


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--stats", required=True)
    parser.add_argument("--control", required=True)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--changes", type=int, required=True)
    parser.add_argument("--tools", type=int, required=True)
    args = parser.parse_args()
    problems = []

    def check(ok, what):
        if not ok:
            problems.append(what)

    with open(args.stats, newline="") as file:
        rows = list(csv.DictReader(file))
    by = {(row["Type"], row["Name"]): row for row in rows}
    count = lambda kind, name: int(by[(kind, name)]["Request Count"]) if (kind, name) in by else 0  # noqa: E731
    aggregated = by[("", "Aggregated")]

    # Locust's side.
    check(int(aggregated["Failure Count"]) == 0, f"Locust counted {aggregated['Failure Count']} failures")
    posted = sum(int(r["Request Count"]) for r in rows if r["Type"] == "CONTROL")
    check(posted == args.changes, f"{posted} changes POSTed, not {args.changes}")
    final = args.tools + args.changes
    checks = {r["Name"]: int(r["Request Count"]) for r in rows if r["Type"] == "CHECK"}
    check(
        checks == {f"up to date at {final} tools": args.users},
        f"users at their stop: {checks}, not all {args.users} up to date at {final} tools",
    )
    refreshes = count("MCP", REFRESH)
    check(refreshes >= args.users, f"only {refreshes} re-lists for {args.users} users")

    # The server's side. Sessions close as the users stop: wait for it.
    deadline = time.monotonic() + 15
    while True:
        text, samples = scrape(args.control)
        still_open = total(samples, "dynamic_mcp_sessions_open")
        if still_open == 0 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(still_open == 0, f"{still_open} sessions still open after the run")
    applied = total(samples, "dynamic_mcp_changes_total", list="tools", kind="add_tool")
    check(applied == args.changes, f"/metrics counts {applied} changes, not {args.changes}")
    figures = {}
    for protocol in (HANDSHAKE, STATELESS):
        owed = total(samples, "dynamic_mcp_change_sessions_total", list="tools", protocol=protocol)
        told = total(samples, "dynamic_mcp_change_notified_seconds_count", list="tools", protocol=protocol)
        refreshed = total(samples, "dynamic_mcp_change_refreshed_seconds_count", list="tools", protocol=protocol)
        missed = total(samples, "dynamic_mcp_change_missed_total", list="tools", protocol=protocol)
        figures[protocol] = (owed, told, refreshed, missed)
        # Each of the users of this kind was open for at least one change.
        check(owed >= args.users // 2, f"{protocol}: only {owed} session-changes owed")
        check(told == owed, f"{protocol}: {told} of {owed} session-changes notified")
        check(missed == 0, f"{protocol}: {missed} session-changes missed")
        check(refreshed == owed, f"{protocol}: {refreshed} of {owed} session-changes refreshed")
    for method in ("tools/list", "tools/call", "initialize"):
        served = total(samples, "dynamic_mcp_requests_total", method=method, outcome="ok")
        made = count("POST", method)
        check(served == made, f"{method}: the server answered {served}, Locust made {made}")

    # The figures, side by side.
    def ms(row, column):
        return f"{float(row[column]):.0f} ms"

    refresh = by.get(("MCP", REFRESH))
    print(f"users: {args.users} (half handshake {HANDSHAKE}, half stateless {STATELESS}), "
          f"master + 2 workers")
    print(f"requests/s (all Locust entries): {float(aggregated['Requests/s']):.1f}; "
          f"requests: {aggregated['Request Count']}, failures: {aggregated['Failure Count']}")
    if refresh:
        print(f"refresh after list_changed (Locust, from the notification to the last page): "
              f"n={refresh['Request Count']} p50={ms(refresh, '50%')} p99={ms(refresh, '99%')} "
              f"max={ms(refresh, 'Max Response Time')}")
    for protocol, (owed, told, refreshed, missed) in figures.items():
        print(f"/metrics {protocol}: {owed:.0f} session-changes owed, {told:.0f} notified, "
              f"{refreshed:.0f} refreshed, {missed:.0f} missed")
    for family, what in (
        ("dynamic_mcp_change_notified_seconds", "change -> notification"),
        ("dynamic_mcp_change_refreshed_seconds", "change -> refresh"),
    ):
        n = total(samples, f"{family}_count", list="tools")
        if n:
            mean = total(samples, f"{family}_sum", list="tools") / n * 1000
            p50 = bucket_quantile(samples, family, 0.5, list="tools")
            p99 = bucket_quantile(samples, family, 0.99, list="tools")
            print(f"/metrics {what}: n={n:.0f} mean={mean:.1f} ms, p50 <= {p50 * 1000:g} ms, "
                  f"p99 <= {p99 * 1000:g} ms")
    print("== /metrics after the run (non-zero samples, no buckets)")
    for line in text.splitlines():
        if not line.startswith("#") and "_bucket" not in line and float(line.rsplit(" ", 1)[1]):
            print(f"  {line}")

    if problems:
        print("FAILED:", *problems, sep="\n  ", file=sys.stderr)
        print("load: 0 passed, 1 failed")
        return 1
    print("load: 1 passed, 0 failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
