#!/usr/bin/env python3
"""Turn the raw measurements compare.sh wrote into markdown tables.

    report.py RESULTS_DIR

Reads (all tab-separated, first line a header):
  runs.tsv    one wrk run per line: round scenario server path conns requests seconds rps p99_ms cpu_ticks
              cpu_us_per_req socket_errors non2xx transfer peak_rss_kb server_busy_pct wrk_busy_pct wrk_us_per_req
  memory.tsv  server key value   (idle_rss_kb, master_rss_kb, conn_base_kb, conn_loaded_kb, conn_count)
  strace.tsv  server scenario requests syscall calls errors

Every figure is the median over the rounds of that scenario. Swerve is compared with the best peer of each row
(the peer with the highest median req/s there): the ratios are the medians of the per-round Swerve / best-peer
ratios. The servers of a round ran seconds apart, so pairing them cancels most of the machine's drift between rounds.

runs.tsv may also hold the do-nothing responder (server "responder", lib/responder.c answering with Swerve's bytes,
rotated with the servers): it is never a peer (never "best", not in "lowest p99" nor the memory table); the summary
shows its req/s and its own per-round ratio to the same best peer, "–" where it has no data.
"""
import csv
import statistics
import sys
from collections import defaultdict
from pathlib import Path

SWERVE = "swerve"
RESPONDER = "responder"   # the do-nothing responder: a control, not a server
PEER_ORDER = ("nginx", "h2o", "lighttpd")


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


def peers_in(servers) -> list[str]:
    present = [s for s in PEER_ORDER if s in servers]
    return present + sorted(s for s in servers if s not in (SWERVE, RESPONDER) and s not in present)


def paired_ratio(swerve_runs: list[dict], peer_runs: list[dict], key: str) -> float | None:
    """Median over rounds of Swerve (or the responder) / peer for the same round."""
    peer_by_round = {r["round"]: metric(r, key) for r in peer_runs}
    ratios = []
    for run in swerve_runs:
        s, p = metric(run, key), peer_by_round.get(run["round"])
        if s is not None and p:
            ratios.append(s / p)
    return statistics.median(ratios) if ratios else None


def ratio_text(value: float | None) -> str:
    return f"{value:.2f}" if value is not None else "–"


def summary(runs: list[dict]) -> None:
    by = defaultdict(lambda: defaultdict(list))  # scenario -> server -> runs
    order: list[str] = []
    for run in runs:
        if run["scenario"] not in order:
            order.append(run["scenario"])
        by[run["scenario"]][run["server"]].append(run)
    rounds = max((int(r["round"]) for r in runs), default=0)
    peers = peers_in({r["server"] for r in runs})
    servers = [SWERVE] + peers
    ceiling = any(r["server"] == RESPONDER for r in runs)

    print(f"### Uncapped: throughput, latency and server CPU per request (median of {rounds} round{'s' if rounds != 1 else ''})")
    print()
    print("`best` is the peer with the highest median req/s in the row; `S / best` is the median of the per-round "
          "ratios (each round ran every server seconds apart): req/s above 1 means Swerve is faster, p99 and CPU/req "
          "below 1 mean Swerve is quicker / cheaper. `lowest p99` is the lowest peer p99 in the row. `errors` sums "
          "wrk's socket errors (connect/read/write/timeout) and non-2xx/3xx responses over all rounds (the 404 "
          "scenario's 404s are not counted). `busy` is the server's CPU time / wall time in % of one core: a server "
          "well below 100% while wrk is near 100% means wrk, not the server, set the req/s — the capped table above "
          "is the per-CPU comparison.")
    if ceiling:
        print()
        print("`responder` is the do-nothing responder (lib/responder.c), run in every row beside the servers: it "
              "parses nothing and answers with Swerve's exact bytes for the row, as Swerve sends them. `responder / "
              "best` is the median of its per-round ratios to the same best peer: where even it does not reach a "
              "target, no server could (the client or the kernel sets the pace).")
    print()
    head = "| scenario | " + " | ".join(f"{s} req/s" for s in servers)
    head += " | best | req/s S / best | "
    if ceiling:
        head += "responder req/s | responder / best | "
    head += " | ".join(f"{s} p99 ms" for s in servers)
    head += " | p99 S / best | lowest p99 | " + " | ".join(f"{s} µs/req" for s in servers)
    head += " | CPU/req S / best | busy % " + " / ".join(s[0].upper() for s in servers) + " | errors " + " / ".join(s[0].upper() for s in servers) + " |"
    print(head)
    print("|---|" + "--:|" * len(servers) + "---|--:|" + ("--:|--:|" if ceiling else "") + "--:|" * len(servers)
          + "--:|--:|" + "--:|" * len(servers) + "--:|--:|---|")
    for scenario in order:
        med, errors = {}, {}
        for server in servers:
            rs = by[scenario][server]
            med[server] = {
                key: median([v for v in (metric(r, key) for r in rs) if v is not None])
                for key in ("rps", "cpu_us_per_req", "p99_ms", "server_busy_pct")
            }
            sock = sum(sum(int(x) for x in r["socket_errors"].split("/")) for r in rs)
            # Every answer in the 404 scenario is a 404 by design: not an error there.
            non2xx = 0 if scenario == "404" else sum(int(r["non2xx"]) for r in rs)
            errors[server] = f"{sock}" + (f"+{non2xx} non-2xx" if non2xx else "")
        with_rps = [p for p in peers if med[p]["rps"] is not None]
        best = max(with_rps, key=lambda p: med[p]["rps"]) if with_rps else None
        p99s = [med[p]["p99_ms"] for p in peers if med[p]["p99_ms"] is not None]
        sr = by[scenario][SWERVE]
        br = by[scenario][best] if best else []
        row = f"| {scenario} | " + " | ".join(fmt(med[s]["rps"], 0) for s in servers)
        row += f" | {best or '–'} | **{ratio_text(paired_ratio(sr, br, 'rps'))}** | "
        if ceiling:
            rr = by[scenario][RESPONDER]
            rr_rps = median([v for v in (metric(r, "rps") for r in rr) if v is not None])
            row += f"{fmt(rr_rps, 0)} | {ratio_text(paired_ratio(rr, br, 'rps'))} | "
        row += " | ".join(fmt(med[s]["p99_ms"], 2) for s in servers)
        row += f" | {ratio_text(paired_ratio(sr, br, 'p99_ms'))} | {fmt(min(p99s), 2) if p99s else '–'} | "
        row += " | ".join(fmt(med[s]["cpu_us_per_req"]) for s in servers)
        row += f" | {ratio_text(paired_ratio(sr, br, 'cpu_us_per_req'))} | "
        row += " / ".join(fmt(med[s]["server_busy_pct"], 0) for s in servers)
        row += " | " + " / ".join(errors[s] for s in servers) + " |"
        print(row)
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
    c10k = defaultdict(list)
    for r in runs:
        if r["scenario"] == "c10k":
            c10k[r["server"]].append(r)
            if as_float(r["peak_rss_kb"]):
                peaks[r["server"]].append(float(r["peak_rss_kb"]))
    servers = [SWERVE] + peers_in(set(mem) | set(peaks))

    print("### Memory")
    print()
    print("RSS is VmRSS from /proc/PID/status of the process that holds the connections (nginx's worker — the "
          "nginx master's own RSS is shown in brackets; the only process of the others). Per connection = (VmRSS "
          "with N idle keep-alive connections open − VmRSS just before) / N. The c10k peak is VmHWM of a server "
          "started fresh for that run.")
    print()
    print("| server | idle RSS MiB (just started) | RSS before holding MiB | RSS holding conns MiB "
          "| idle keep-alive conns | RSS per idle conn KiB | c10k peak RSS MiB (VmHWM, median) |")
    print("|---|--:|--:|--:|--:|--:|--:|")
    for server in servers:
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
    if c10k and peaks:
        peer_peaks = {p: median(peaks[p]) for p in servers[1:] if peaks[p]}
        if peer_peaks and peaks[SWERVE]:
            smallest = min(peer_peaks, key=peer_peaks.get)
            print(f"c10k peak RSS: Swerve {median(peaks[SWERVE]) / 1024:.1f} MiB, smallest peer {smallest} "
                  f"{peer_peaks[smallest] / 1024:.1f} MiB (Swerve / smallest {median(peaks[SWERVE]) / peer_peaks[smallest]:.2f}).")
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
    servers = [SWERVE] + peers_in({row["server"] for row in rows})

    print("### System calls per request (strace -c -f on the serving process, wrk -c 8 for 2 s)")
    print()
    print("Calls of each system call divided by the requests wrk completed while strace was attached (all threads; "
          "strace slows the servers down, so only the counts mean anything). `(e N)` = of which failed, per "
          "request (EAGAIN and the like). Calls below 0.005 per request for every server are left out.")
    print()
    for scenario in order:
        maps = {s: per[scenario][s] for s in servers}
        names = sorted(set().union(*maps.values()), key=lambda k: (-sum(m.get(k, 0) for m in maps.values()), k))
        print(f"**{scenario}** — requests under strace: "
              + ", ".join(f"{s} {reqs[scenario].get(s, 0):,}" for s in servers))
        print()
        print("| syscall | " + " | ".join(f"{s} / req" for s in servers) + " |")
        print("|---|" + "--:|" * len(servers))

        def cell(server: str, name: str) -> str:
            if name not in maps[server]:
                return "–"
            e = errs[scenario][server].get(name, 0)
            return f"{maps[server][name]:.2f}" + (f" (e {e:.2f})" if e >= 0.005 else "")

        for name in names:
            if all(m.get(name, 0) < 0.005 for m in maps.values()):
                continue
            print(f"| {name} | " + " | ".join(cell(s, name) for s in servers) + " |")
        print("| **total** | " + " | ".join(f"**{sum(maps[s].values()):.2f}**" for s in servers) + " |")
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
