#!/usr/bin/env python3
"""Turn the raw measurements compare.sh wrote into markdown tables.

    report.py RESULTS_DIR

Reads (all tab-separated, first line a header):
  runs.tsv    one wrk run per line: round scenario server path conns requests seconds rps p99_ms cpu_ticks
              cpu_us_per_req socket_errors non2xx transfer peak_rss_kb server_busy_pct wrk_busy_pct wrk_us_per_req
  memory.tsv  server key value   (idle_rss_kb, master_rss_kb, conn_base_kb, conn_loaded_kb, conn_count)
  strace.tsv  server scenario requests syscall calls errors

Every figure in the summary is the median over the rounds of that scenario. The ratios are the median of the
per-round Swerve / nginx ratios: the two servers of a round ran seconds apart, so pairing them cancels most of the
machine's drift between rounds.
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

SERVERS = ("swerve", "nginx")


def read_tsv(path: Path) -> list[dict]:
    if not path.exists():
        return []
    with path.open() as f:
        return list(csv.DictReader(f, delimiter="\t"))


def fmt(value: float | None, digits: int = 1) -> str:
    if value is None:
        return "–"
    if abs(value) >= 1000:
        return f"{value:,.0f}"
    return f"{value:,.{digits}f}"


def median(values: list[float]) -> float | None:
    return statistics.median(values) if values else None


def as_float(text: str) -> float | None:
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def metric(run: dict, key: str) -> float | None:
    value = as_float(run.get(key))
    # wrk prints a p99 of 0.00us when its latency histogram is broken (seen with pipelining): not a measurement.
    if key == "p99_ms" and value == 0:
        return None
    return value


def paired_ratio(swerve_runs: list[dict], nginx_runs: list[dict], key: str) -> str:
    """Median over rounds of Swerve / nginx for the same round."""
    nginx_by_round = {r["round"]: metric(r, key) for r in nginx_runs}
    ratios = []
    for run in swerve_runs:
        s, n = metric(run, key), nginx_by_round.get(run["round"])
        if s is not None and n:
            ratios.append(s / n)
    return f"{statistics.median(ratios):.2f}" if ratios else "–"


def summary(runs: list[dict]) -> None:
    by = defaultdict(lambda: defaultdict(list))  # scenario -> server -> runs
    order: list[str] = []
    for run in runs:
        if run["scenario"] not in order:
            order.append(run["scenario"])
        by[run["scenario"]][run["server"]].append(run)
    rounds = max((int(r["round"]) for r in runs), default=0)

    print(f"### Throughput, latency and server CPU per request (median of {rounds} round{'s' if rounds != 1 else ''})")
    print()
    print("Ratios are Swerve / nginx, the median of the per-round ratios (each round ran both servers seconds "
          "apart): req/s above 1 means Swerve is faster; CPU/req and p99 below 1 mean Swerve is "
          "cheaper / quicker. `errors` sums wrk's socket errors (connect/read/write/timeout) and non-2xx/3xx "
          "responses over all rounds, Swerve / nginx (the 404 scenario's 404s are not counted). `busy` is CPU time / "
          "wall time in % of one core, for the server (all its processes) and for wrk: a server well below 100% "
          "while wrk is near 100% means wrk (or the noisy machine), not the server, set the req/s — then compare "
          "CPU µs/req. `wrk µs/req` is the load generator's own CPU per response: when wrk is saturated, req/s is "
          "1 / this, so a server can only raise req/s by changing what wrk has to do per response.")
    print()
    print("| scenario | Swerve path | Swerve req/s | nginx req/s | req/s ratio | Swerve CPU µs/req | nginx CPU µs/req "
          "| CPU/req ratio | Swerve p99 ms | nginx p99 ms | p99 ratio | server busy % S / N | wrk busy % S / N "
          "| wrk µs/req S / N | errors S / N |")
    print("|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
    for scenario in order:
        med = {}
        errors = {}
        for server in SERVERS:
            rs = by[scenario][server]
            med[server] = {
                key: median([v for v in (metric(r, key) for r in rs) if v is not None])
                for key in ("rps", "cpu_us_per_req", "p99_ms", "server_busy_pct", "wrk_busy_pct", "wrk_us_per_req")
            }
            sock = sum(sum(int(x) for x in r["socket_errors"].split("/")) for r in rs)
            # Every answer in the 404 scenario is a 404 by design: not an error there.
            non2xx = 0 if scenario == "404" else sum(int(r["non2xx"]) for r in rs)
            errors[server] = f"{sock}" + (f"+{non2xx} non-2xx" if non2xx else "")
        path = by[scenario]["swerve"][0]["path"] if by[scenario]["swerve"] else "–"
        s, n = med["swerve"], med["nginx"]
        sr, nr = by[scenario]["swerve"], by[scenario]["nginx"]
        print(f"| {scenario} | `{path}` | {fmt(s['rps'], 0)} | {fmt(n['rps'], 0)} | {paired_ratio(sr, nr, 'rps')} "
              f"| {fmt(s['cpu_us_per_req'])} | {fmt(n['cpu_us_per_req'])} "
              f"| {paired_ratio(sr, nr, 'cpu_us_per_req')} "
              f"| {fmt(s['p99_ms'], 2)} | {fmt(n['p99_ms'], 2)} | {paired_ratio(sr, nr, 'p99_ms')} "
              f"| {fmt(s['server_busy_pct'], 0)} / {fmt(n['server_busy_pct'], 0)} "
              f"| {fmt(s['wrk_busy_pct'], 0)} / {fmt(n['wrk_busy_pct'], 0)} "
              f"| {fmt(s['wrk_us_per_req'])} / {fmt(n['wrk_us_per_req'])} "
              f"| {errors['swerve']} / {errors['nginx']} |")
    print()


def raw(runs: list[dict]) -> None:
    print("### Every run")
    print()
    print("| round | scenario | server | path | conns | requests | req/s | p99 ms | CPU ticks | CPU µs/req "
          "| server busy % | wrk busy % | wrk µs/req | socket errors c/r/w/t | non-2xx | transfer/s | peak RSS KiB |")
    print("|--:|---|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|--:|--:|--:|")
    for r in runs:
        print(f"| {r['round']} | {r['scenario']} | {r['server']} | `{r['path']}` | {r['conns']} | {r['requests']} "
              f"| {fmt(as_float(r['rps']), 0)} | {r['p99_ms']} | {r['cpu_ticks']} | {r['cpu_us_per_req']} "
              f"| {r['server_busy_pct']} | {r['wrk_busy_pct']} | {r.get('wrk_us_per_req', '-')} | {r['socket_errors']} | {r['non2xx']} | {r['transfer']} | {r['peak_rss_kb']} |")
    print()


def memory(rows: list[dict], runs: list[dict]) -> None:
    if not rows:
        return
    mem = defaultdict(dict)
    for row in rows:
        mem[row["server"]][row["key"]] = float(row["value"])
    peaks = defaultdict(list)
    for r in runs:
        if r["scenario"] == "c10k" and as_float(r["peak_rss_kb"]):
            peaks[r["server"]].append(float(r["peak_rss_kb"]))

    print("### Memory")
    print()
    print("RSS is VmRSS from /proc/PID/status of the process that holds the connections (Swerve's only process; "
          "nginx's worker — the nginx master's own RSS is shown in brackets). Per connection = (VmRSS with "
          "N idle keep-alive connections open − VmRSS just before) / N.")
    print()
    print("| server | idle RSS MiB (just started) | RSS before holding MiB | RSS holding conns MiB "
          "| idle keep-alive conns | RSS per idle conn KiB | c10k peak RSS MiB (VmHWM, median) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for server in SERVERS:
        m = mem.get(server, {})
        idle = fmt(m["idle_rss_kb"] / 1024, 1) if "idle_rss_kb" in m else "–"
        if "master_rss_kb" in m:
            idle += f" (+{m['master_rss_kb'] / 1024:.1f} master)"
        base, loaded, count = m.get("conn_base_kb"), m.get("conn_loaded_kb"), m.get("conn_count")
        per = (loaded - base) / count if base is not None and loaded is not None and count else None
        peak = median(peaks[server])
        print(f"| {server} | {idle} | {fmt(base / 1024 if base else None)} | {fmt(loaded / 1024 if loaded else None)} "
              f"| {fmt(count, 0) if count else '–'} | {fmt(per, 2)} | {fmt(peak / 1024 if peak else None)} |")
    print()


def syscalls(rows: list[dict]) -> None:
    if not rows:
        return
    # scenario -> server -> {syscall: calls per request}, plus the request count each was divided by
    per = defaultdict(lambda: defaultdict(dict))
    reqs = defaultdict(dict)
    errs = defaultdict(lambda: defaultdict(dict))
    order: list[str] = []
    for row in rows:
        if row["scenario"] not in order:
            order.append(row["scenario"])
        n = int(row["requests"]) or 1
        reqs[row["scenario"]][row["server"]] = int(row["requests"])
        per[row["scenario"]][row["server"]][row["syscall"]] = int(row["calls"]) / n
        errs[row["scenario"]][row["server"]][row["syscall"]] = int(row["errors"] or 0) / n

    print("### System calls per request (strace -c -f on the serving process, wrk -c 8 for 2 s)")
    print()
    print("Calls of each system call divided by the requests wrk completed while strace was attached (all threads; "
          "strace slows the servers down, so only the counts mean anything). `(e N)` = of which failed, per "
          "request (EAGAIN and the like). Calls below 0.005 per request for both servers are left out.")
    print()
    for scenario in order:
        s, n = per[scenario]["swerve"], per[scenario]["nginx"]
        names = sorted(set(s) | set(n), key=lambda k: (-(s.get(k, 0) + n.get(k, 0)), k))
        print(f"**{scenario}** — requests under strace: Swerve {reqs[scenario].get('swerve', 0):,}, "
              f"nginx {reqs[scenario].get('nginx', 0):,}")
        print()
        print("| syscall | Swerve / req | nginx / req |")
        print("|---|--:|--:|")

        def cell(server_map: dict, server: str, name: str) -> str:
            if name not in server_map:
                return "–"
            e = errs[scenario][server].get(name, 0)
            return f"{server_map[name]:.2f}" + (f" (e {e:.2f})" if e >= 0.005 else "")

        for name in names:
            if s.get(name, 0) < 0.005 and n.get(name, 0) < 0.005:
                continue
            print(f"| {name} | {cell(s, 'swerve', name)} | {cell(n, 'nginx', name)} |")
        print(f"| **total** | **{sum(s.values()):.2f}** | **{sum(n.values()):.2f}** |")
        print()


def main() -> None:
    results = Path(sys.argv[1])
    runs = read_tsv(results / "runs.tsv")
    summary(runs)
    memory(read_tsv(results / "memory.tsv"), runs)
    syscalls(read_tsv(results / "strace.tsv"))
    raw(runs)


if __name__ == "__main__":
    main()
