#!/usr/bin/env python3
# SPDX-License-Identifier: ISC
"""report.py: helpers of tests/bench/run.sh.

  report.py wrk FILE --round R --target T --conns C --cpu-ticks N --hz HZ
            --cpu-stat S0 --cpu-stat S1 [--tag TAG]
      parses one wrk --latency output into a JSON line.
  report.py summary RESULTS.jsonl --rounds N --cpu-up A --cpu-px B
      prints the benchmark's figures (medians over the rounds) and
      PASS/FAIL against the targets of issue 3 section 6.
"""
import argparse
import json
import re
import statistics
import sys

UNITS = {"us": 1.0, "ms": 1e3, "s": 1e6, "m": 60e6}

# Targets (issue 3, section 6).
ADDED_RATIO_MAX = 1.5     # gateway added latency <= 1.5 x nginx's
RPS_RATIO_MIN = 0.5       # gateway req/s at c=64 >= 0.5 x nginx's
IDLE_RSS_MAX_KB = 8 * 1024
STREAMS_RSS_MAX_KB = 32 * 1024


def dur_us(s):
    m = re.match(r"([\d.]+)(us|ms|s|m)$", s)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(a):
    text = open(a.file).read()
    out = {"kind": "wrk", "round": a.round, "target": a.target,
           "conns": a.conns, "tag": a.tag}
    for p in ("50", "75", "90", "99"):
        m = re.search(r"^\s+%s%%\s+(\S+)" % p, text, re.M)
        out["p%s_us" % p] = dur_us(m.group(1)) if m else None
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", text)
    out["requests"] = int(m.group(1)) if m else 0
    out["seconds"] = dur_us(m.group(2) + m.group(3)) / 1e6 if m else None
    m = re.search(r"Requests/sec:\s+([\d.]+)", text)
    out["rps"] = float(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    out["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), "
                  r"timeout (\d+)", text)
    out["sock_errors"] = sum(int(x) for x in m.groups()) if m else 0
    out["cpu_s"] = a.cpu_ticks / float(a.hz)
    # Utilisation of each benchmark CPU over the run (all processes).
    s0, s1 = a.cpu_stat[0].split(), a.cpu_stat[1].split()
    util = {}
    for i in range(0, len(s0) - 2, 3):
        busy = int(s1[i + 1]) - int(s0[i + 1])
        tot = int(s1[i + 2]) - int(s0[i + 2])
        util[s0[i]] = round(100.0 * busy / tot, 1) if tot > 0 else None
    out["cpu_util"] = util
    if out["rps"] is None:
        out["error"] = text[-500:]
    print(json.dumps(out))


def med(v):
    v = [x for x in v if x is not None]
    return statistics.median(v) if v else None


def fmt_us(v):
    if v is None:
        return "n/a"
    if abs(v) >= 10000:
        return "%.2f ms" % (v / 1000.0)
    return "%.0f us" % v


def fmt_kb(v):
    return "n/a" if v is None else "%.1f MiB" % (v / 1024.0)


def verdict(ok):
    return "PASS" if ok else "FAIL"


def summary(a):
    rows = [json.loads(line) for line in open(a.file) if line.strip()]
    wrk = [r for r in rows if r["kind"] == "wrk" and not r.get("tag")]
    stream = [r for r in rows if r["kind"] == "stream"]
    mem = {r["what"]: r for r in rows if r["kind"] == "mem"}
    targets = ["direct", "nginx", "gateway"]
    if any(r.get("target") == "gateway-b" for r in rows):
        targets.append("gateway-b")
    proxies = targets[1:]
    gws = targets[2:]
    names = {"direct": "direct (upstream)", "nginx": "nginx reverse proxy",
             "gateway": "copilot-gw", "gateway-b": "copilot-gw B (compare)"}
    problems = []

    for r in rows:
        if r["kind"] == "wrk" and (r.get("non2xx") or r.get("sock_errors")
                                   or r.get("rps") is None):
            problems.append("wrk %s c=%d round %d%s: %s non-2xx, %s socket "
                            "errors%s" % (r["target"], r["conns"], r["round"],
                                          " (%s)" % r["tag"] if r.get("tag")
                                          else "", r.get("non2xx"),
                                          r.get("sock_errors"),
                                          ", no result" if r.get("rps") is None
                                          else ""))
        if r["kind"] == "stream" and r.get("bad"):
            problems.append("stream %s %s round %d: %d bad responses" % (
                r["target"], r["mode"], r["round"], r["bad"]))

    def w(target, conns, key):
        return [r.get(key) for r in wrk
                if r["target"] == target and r["conns"] == conns]

    def wm(target, conns, key):
        return med(w(target, conns, key))

    def added(target, conns, key):
        # Per round: target - direct; then the median of the rounds.
        d = {}
        for r in wrk:
            if r["conns"] == conns and r.get(key) is not None:
                d.setdefault(r["round"], {})[r["target"]] = r[key]
        v = [x[target] - x["direct"] for x in d.values()
             if target in x and "direct" in x]
        return med(v)

    print("=" * 78)
    print("copilot-gw benchmark: medians of %d rounds" % a.rounds)
    print("=" * 78)
    env = {r["what"]: r for r in rows if r["kind"] == "env"}
    if env:
        print("Background load on the benchmark CPUs (other processes, "
              "measured while the")
        print("benchmark idled): " + "; ".join(
            "%s: %s" % (w, ", ".join("cpu%s %.0f%%" % (k[3:], v)
                                     for k, v in sorted(e.items())
                                     if k.startswith("cpu")))
            for w, e in env.items()))
        if any(v > 10 for e in env.values() for k, v in e.items()
               if k.startswith("cpu")):
            print("  WARNING: the machine was busy; the latencies and rates "
                  "below are noisy.")
    print()
    print("Non-streaming: POST chat completion, canned 380-byte answer "
          "(wrk, keep-alive)")
    print("  %-22s %10s %10s %10s %10s %12s" % (
        "", "c=1 p50", "c=1 p99", "c=64 p50", "c=64 p99", "req/s c=64"))
    for t in targets:
        print("  %-22s %10s %10s %10s %10s %12s" % (
            names[t], fmt_us(wm(t, 1, "p50_us")), fmt_us(wm(t, 1, "p99_us")),
            fmt_us(wm(t, 64, "p50_us")), fmt_us(wm(t, 64, "p99_us")),
            "%.0f" % (wm(t, 64, "rps") or 0)))
    print("  added latency over direct:")
    for t in proxies:
        print("  %-22s %10s %10s %10s %10s" % (
            "  " + names[t], fmt_us(added(t, 1, "p50_us")),
            fmt_us(added(t, 1, "p99_us")), fmt_us(added(t, 64, "p50_us")),
            fmt_us(added(t, 64, "p99_us"))))
    print("  req/s at c=1: " + ", ".join(
        "%s %.0f" % (t, wm(t, 1, "rps") or 0) for t in targets))
    cu = [r for r in rows if r["kind"] == "curl"]
    if cu:
        n = wm("nginx", 64, "rps")
        rps = med([r["rps"] for r in cu])
        print("  libcurl alone (curl_client.c: the gateway's upstream leg, "
              "same request and")
        print("    headers, 64 in flight, on the proxy CPU, no gateway "
              "work): %.0f req/s%s," % (
                  rps, " (%.2fx nginx proxy)" % (rps / n) if n else ""))
        print("    %.1f us user + %.1f us sys CPU per transfer" % (
            med([r["user_us"] for r in cu]), med([r["sys_us"] for r in cu])))
    print()

    # CPU.
    def per10k(target, conns):
        v = [r["cpu_s"] / r["requests"] * 10000 for r in wrk
             if r["target"] == target and r["conns"] == conns
             and r["requests"]]
        return med(v)

    print("CPU (utime+stime from /proc/PID/stat, all threads)")
    for t in proxies:
        print("  %-22s %6.3f CPU-s per 10k requests at c=64, %6.3f at c=1"
              % (names[t], per10k(t, 64) or 0, per10k(t, 1) or 0))
    if cu:
        print("  %-22s %6.3f CPU-s per 10k transfers at c=64 (upstream leg "
              "only)" % ("libcurl alone", med([(r["user_us"] + r["sys_us"])
                                              / 100 for r in cu])))
    print("  utilisation during the c=64 runs (the proxy's own, and each "
          "CPU's, all processes):")
    for t in targets:
        util = [r.get("cpu_util") or {} for r in wrk
                if r["target"] == t and r["conns"] == 64]
        own = med([r["cpu_s"] / r["seconds"] * 100 for r in wrk
                   if r["target"] == t and r["conns"] == 64
                   and r.get("seconds")])
        cu = med([u.get("cpu%s" % a.cpu_up) for u in util])
        cp = med([u.get("cpu%s" % a.cpu_px) for u in util])
        print("  %-22s process %5.1f%%   CPU%s %5.1f%%   CPU%s %5.1f%%" % (
            names[t], own or 0, a.cpu_up, cu or 0, a.cpu_px, cp or 0))
    dl = [r for r in rows if r["kind"] == "wrk"
          and r.get("tag") == "default-limits"]
    if dl:
        r = dl[0]
        print()
        print("  informational: copilot-gw with its default "
              "limits.account_concurrency (4), c=64:")
        print("    %.0f req/s, p50 %s, p99 %s%s" % (
            r.get("rps") or 0, fmt_us(r.get("p50_us")),
            fmt_us(r.get("p99_us")),
            ", %d non-2xx" % r["non2xx"] if r.get("non2xx") else ""))
    print()

    # Streaming.
    def s(target, mode, key):
        return med([r.get(key) for r in stream
                    if r["target"] == target and r["mode"] == mode])

    def sadd(target, mode, key):
        d = {}
        for r in stream:
            if r["mode"] == mode and r.get(key) is not None:
                d.setdefault(r["round"], {})[r["target"]] = r[key]
        return med([x[target] - x["direct"] for x in d.values()
                    if target in x and "direct" in x])

    print("Streaming: SSE chat completion (stream_client.py, one keep-alive "
          "connection,")
    print("  requests one after another; upstream = nginx -> "
          "sse_upstream.py)")
    print("  %-22s %9s %9s %9s %9s %11s %11s" % (
        "", "TTFB p50", "TTFB p99", "1st ev", "1st ev", "chunk lat",
        "chunk lat"))
    print("  %-22s %9s %9s %9s %9s %11s %11s" % (
        "", "", "", "p50", "p99", "p50 (drip)", "p99 (drip)"))
    for t in targets:
        print("  %-22s %9s %9s %9s %9s %11s %11s" % (
            names[t], fmt_us(s(t, "short", "ttfb_p50_us")),
            fmt_us(s(t, "short", "ttfb_p99_us")),
            fmt_us(s(t, "short", "first_event_p50_us")),
            fmt_us(s(t, "short", "first_event_p99_us")),
            fmt_us(s(t, "drip", "chunk_lat_p50_us")),
            fmt_us(s(t, "drip", "chunk_lat_p99_us"))))
    print("  added over direct:")
    for t in proxies:
        print("  %-22s %9s %9s %9s %9s %11s %11s" % (
            "  " + names[t], fmt_us(sadd(t, "short", "ttfb_p50_us")),
            fmt_us(sadd(t, "short", "ttfb_p99_us")),
            fmt_us(sadd(t, "short", "first_event_p50_us")),
            fmt_us(sadd(t, "short", "first_event_p99_us")),
            fmt_us(sadd(t, "drip", "chunk_lat_p50_us")),
            fmt_us(sadd(t, "drip", "chunk_lat_p99_us"))))
    print("  100-chunk burst (all chunks in one upstream write), whole "
          "stream p50:")
    for t in targets:
        line = "    %-20s %9s" % (names[t], fmt_us(s(t, "burst",
                                                      "total_p50_us")))
        if t != "direct":
            ad = sadd(t, "burst", "total_p50_us")
            line += "   added %s (%s per chunk)" % (
                fmt_us(ad), "%.1f us" % (ad / 100.0) if ad is not None
                else "n/a")
        print(line)

    def cpu_per_stream(t, mode):
        return med([r["gw_cpu_ns"] / 1e3 / r["streams"] for r in stream
                    if r["target"] == t and r["mode"] == mode
                    and r.get("gw_cpu_ns")])
    for t in gws:
        c1, c100 = cpu_per_stream(t, "short"), cpu_per_stream(t, "burst")
        if c1 is not None and c100 is not None:
            print("  %s CPU (schedstat): %.0f us per 1-chunk stream, %.0f "
                  "us per 100-chunk stream" % (names[t], c1, c100))
            print("    -> %.2f us of CPU per relayed chunk" % (
                (c100 - c1) / 99.0))
    print()

    # Memory.
    print("Memory (gateway, /proc/PID/status and smaps_rollup; file = shared "
          "library pages,")
    print("  counted whole in VmRSS, shared with other processes in PSS)")
    for k, label in (("idle_fresh", "idle, just started"),
                     ("idle_warm", "idle, after the first requests"),
                     ("idle_after", "idle, after the whole benchmark")):
        r = mem.get(k)
        if r:
            print("  %-32s VmRSS %s (anon %s, file %s), PSS %s, VmHWM %s"
                  % (label, fmt_kb(r["rss_kb"]), fmt_kb(r.get("anon_kb")),
                     fmt_kb(r.get("file_kb")), fmt_kb(r.get("pss_kb")),
                     fmt_kb(r.get("hwm_kb"))))
    h = mem.get("streams256")
    if h:
        print("  %-32s VmRSS %s (anon %s, file %s), PSS %s, VmHWM %s" % (
            "256 concurrent streams open", fmt_kb(h["rss_kb"]),
            fmt_kb(h.get("rss_anon_kb")), fmt_kb(h.get("rss_file_kb")),
            fmt_kb(h.get("pss_kb")), fmt_kb(h["hwm_kb"])))
        print("    %d/%d streams completed; all open at once: %s; %d samples"
              % (h["ok"], h["streams"], h["all_open"], h["samples"]))
        if h["ok"] != h["streams"] or not h["all_open"]:
            problems.append("256-stream test: only %d/%d completed "
                            "(all open at once: %s)" % (h["ok"], h["streams"],
                                                        h["all_open"]))
    print()

    # Targets.
    print("Targets (issue 3, section 6)")
    for conns in (1, 64):
        for p in ("p50", "p99"):
            g = added("gateway", conns, p + "_us")
            n = added("nginx", conns, p + "_us")
            if g is None or n is None:
                print("  added latency c=%-2d %s: n/a  FAIL" % (conns, p))
                continue
            if n > 0:
                ratio = g / n
                ok = ratio <= ADDED_RATIO_MAX
                rs = "%.2fx" % ratio
            else:
                ok = g <= 0
                rs = "nginx added <= 0"
            print("  added latency c=%-2d %s: copilot-gw %s vs nginx %s "
                  "(%s; target <= %.1fx)  %s" % (
                      conns, p, fmt_us(g), fmt_us(n), rs, ADDED_RATIO_MAX,
                      verdict(ok)))
    g, n = wm("gateway", 64, "rps"), wm("nginx", 64, "rps")
    if g and n:
        print("  req/s at c=64: copilot-gw %.0f vs nginx %.0f (%.2fx; "
              "target >= %.1fx)  %s" % (g, n, g / n, RPS_RATIO_MIN,
                                        verdict(g / n >= RPS_RATIO_MIN)))
    for k, label in (("idle_fresh", "idle RSS (just started)"),
                     ("idle_warm", "idle RSS (after first requests)"),
                     ("idle_after", "idle RSS (after the benchmark)")):
        r = mem.get(k)
        if r:
            print("  %s: %s (target <= 8 MiB)  %s" % (
                label, fmt_kb(r["rss_kb"]),
                verdict(r["rss_kb"] <= IDLE_RSS_MAX_KB)))
    if h:
        ok = h["rss_kb"] <= STREAMS_RSS_MAX_KB and \
            h["hwm_kb"] <= STREAMS_RSS_MAX_KB and \
            h["ok"] == h["streams"] and h["all_open"]
        print("  RSS with 256 concurrent streams: %s, peak (VmHWM) %s "
              "(target <= 32 MiB)  %s" % (fmt_kb(h["rss_kb"]),
                                          fmt_kb(h["hwm_kb"]), verdict(ok)))
    if problems:
        print()
        print("Problems seen (figures above may be off):")
        for p in problems:
            print("  - " + p)


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("wrk")
    p.add_argument("file")
    p.add_argument("--round", type=int, required=True)
    p.add_argument("--target", required=True)
    p.add_argument("--conns", type=int, required=True)
    p.add_argument("--cpu-ticks", type=int, default=0)
    p.add_argument("--hz", type=int, default=100)
    p.add_argument("--cpu-stat", action="append", default=[])
    p.add_argument("--tag")
    p = sub.add_parser("summary")
    p.add_argument("file")
    p.add_argument("--rounds", type=int, default=0)
    p.add_argument("--cpu-up", default="0")
    p.add_argument("--cpu-px", default="1")
    a = ap.parse_args()
    if a.cmd == "wrk":
        parse_wrk(a)
    else:
        summary(a)


if __name__ == "__main__":
    sys.exit(main())
