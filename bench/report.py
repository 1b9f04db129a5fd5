#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""report.py - turn bench/all.sh's raw results into report.md, summary.tsv and a gnuplot
script (ratios.gp, data in ratios.dat; run it in the output directory) for ratios.png. Called by all.sh; reads only the
files in --raw, so it can be re-run on a kept raw directory."""
import argparse
import glob
import json
import os
import re
import statistics
import subprocess
import time

ap = argparse.ArgumentParser()
ap.add_argument("--raw", required=True)
ap.add_argument("--out", required=True)
ap.add_argument("--runs", type=int, default=5)
ap.add_argument("--quick", type=int, default=0)
ap.add_argument("--clk-tck", type=int, default=100)
ap.add_argument("--mem-delay", type=int, default=25)
ap.add_argument("--idle", type=int, default=30)
ap.add_argument("--peers", default="glibc jemalloc tcmalloc tcmalloc_minimal mimalloc")
a = ap.parse_args()
RAW = a.raw
MALLOC_PEERS = a.peers.split()
COLS = ["slabd"] + MALLOC_PEERS + ["dpdk"]


def lines(name):
    p = os.path.join(RAW, name)
    if not os.path.exists(p):
        return []
    with open(p) as f:
        return [l.split() for l in f if l.strip() and not l.startswith("#")]


def text(name, default=""):
    p = os.path.join(RAW, name)
    if not os.path.exists(p):
        return default
    with open(p) as f:
        return f.read().strip()


# ---------------------------------------------------------------- timings --
# vals[(test, size)][alloc] = [per-round values]
vals = {}
ORDER = []


def add(test, size, alloc, v):
    key = (test, int(size))
    if key not in vals:
        vals[key] = {}
        ORDER.append(key)
    vals[key].setdefault(alloc, []).append(float(v))


# Handoff repetitions with the cross-CPU round trip around each ("<prog> alloc handoff-rep
# size v xcpu before after"): reps[test][alloc] = [(v, xcpu, regime)]. The VM's round trip
# is bimodal; runs are compared with runs of the same regime (XCPU_NEAR splits them). A
# run measured near on one side and far on the other switched regimes while it ran: it
# is "mixed", counted but in neither.
XCPU_NEAR = 400
reps = {}


def regime_of(before, after):
    if before < XCPU_NEAR and after < XCPU_NEAR:
        return "near"
    if before >= XCPU_NEAR and after >= XCPU_NEAR:
        return "far"
    return "mixed"


def add_rep(test, f):
    if len(f) >= 8:
        x0, x1 = float(f[6]), float(f[7])
        reps.setdefault(test, {}).setdefault(f[1], []).append((float(f[4]), float(f[5]), regime_of(x0, x1)))


for f in lines("kbench.txt"):  # kbench alloc test size v
    if f[1] == "slabd-ownrseq":
        continue
    if f[2] == "handoff-rep":
        add_rep("handoff-thread", f)
        continue
    test = {"handoff": "handoff-thread", "burst64": "burst64"}.get(f[2], f[2])
    add(test, f[3], f[1], f[4])
for f in lines("bulk.txt"):  # bulkbench alloc test n v
    add(f[2], f[3], f[1], f[4])
for f in lines("handoff.txt"):  # bulkbench alloc handoff 1 v
    if f[2] == "handoff-rep":
        add_rep("handoff-cache", f)
    else:
        add("handoff-cache", 64, f[1], f[4])
for f in lines("xproc.txt"):  # xproc alloc handoff 64 v
    if f[2] == "handoff-rep":
        add_rep("handoff-process", f)
    else:
        add("handoff-process", 64, f[1], f[4])


def regime_medians(test, alloc):
    """{"near": (median, n), "far": (median, n)} of the repetitions of @test by @alloc."""
    out = {}
    for name in ("near", "far"):
        v = [c for c, _, g in reps.get(test, {}).get(alloc, []) if g == name]
        if v:
            out[name] = (statistics.median(v), len(v))
    return out

TEST_RANK = {"pair": 0, "pair-rt": 1, "burst64": 2, "bulk": 3, "bulk-rt": 4, "single": 5,
             "handoff-thread": 6, "handoff-cache": 7, "handoff-process": 8, "fresh": 10, "live": 11}
ORDER.sort(key=lambda k: (TEST_RANK.get(k[0], 9 if k[0].startswith("threads") else 12), k[0], k[1]))
med = {k: {al: statistics.median(v) for al, v in d.items()} for k, d in vals.items()}
UNIT = {"pair": "cycles per alloc+free", "bulk": "cycles per object"}
DESC = {
    "pair": "kmalloc(const)+kfree / malloc+free",
    "pair-rt": "run-time size",
    "burst64": "64 allocs then 64 frees",
    "bulk": "bulk alloc+free of n, n constant",
    "bulk-rt": "bulk, n at run time",
    "single": "n single allocs, n single frees",
    "handoff-thread": "CPU 0 allocs, CPU 1 frees (kmalloc/malloc)",
    "handoff-cache": "CPU 0 allocs, CPU 1 frees (kmem_cache / mempool lcores)",
    "handoff-process": "process on CPU 0 allocs, process on CPU 1 frees",
    "fresh": "100k live in a new process",
    "live": "100k live, warm",
}


def desc(t):
    if t.startswith("threads"):
        return "%s threads on 2 CPUs doing pairs (wall cycles / pair)" % t[7:]
    return DESC.get(t, "")


def fmt(x, nd=1):
    return "-" if x is None else ("%.*f" % (nd, x))


def best_peer(m, exclude=("slabd",)):
    c = [(v, al) for al, v in m.items() if al not in exclude and v > 0]
    return min(c) if c else (None, None)


out = []
w = out.append
load = text("load.txt")
w("# slabd against its peers: `bench/all.sh`")
w("")
w("- run started: %s; report written: %s" % (text("date.txt", "?"), time.strftime("%Y-%m-%d %H:%M:%S %Z")))
try:
    cpu = subprocess.run(["sh", "-c", "grep -m1 '^model name' /proc/cpuinfo | cut -d: -f2-"],
                         capture_output=True, text=True).stdout.strip()
except OSError:
    cpu = "?"
w("- machine: %s, %d online CPUs, kernel %s" % (cpu, os.cpu_count() or 0, os.uname().release))
w("- slabd %s" % text("backing.txt", "backing: ?"))
for l in load.splitlines():
    w("- %s" % l)
w("- command: `bench/all.sh --runs %d%s` (medians over %d rounds; every timed program pinned)"
  % (a.runs, " --quick" if a.quick else "", a.runs))
if a.quick:
    w("- **--quick: small counts, a check of the tooling; the numbers are not a measurement.**")
notes = text("notes.txt")
if notes:
    w(notes)
w("")

# targets ------------------------------------------------------------------
w("## Targets (issue 8)")
w("")
w("| target | measured | met? |")
w("|---|---|---|")
pair_rows = [k for k in ORDER if k[0] == "pair" and "slabd" in med[k]]
if pair_rows:
    ok = 0
    worst = None
    for k in pair_rows:
        bv, bp = best_peer({al: v for al, v in med[k].items() if al != "dpdk"})
        if bv is None:
            continue
        r = med[k]["slabd"] / bv
        ok += r <= 0.8
        if worst is None or r > worst[0]:
            worst = (r, k[1], bp)
    if worst:
        w("| kmalloc+kfree pair <= 0.8 x the fastest peer, per size class | slabd/fastest <= 0.8 at %d of %d size classes; worst %.2f at %d B (against %s) | %s |"
          % (ok, len(pair_rows), worst[0], worst[1], worst[2], "yes" if ok == len(pair_rows) else "no"))
for n in (1, 8, 32):
    k = ("bulk", n)
    if k in med and "slabd" in med[k] and "dpdk" in med[k]:
        r = med[k]["slabd"] / med[k]["dpdk"]
        w("| bulk per object <= 0.8 x DPDK mempool, n = %d | %.1f against %.1f cycles: %.2f x | %s |"
          % (n, med[k]["slabd"], med[k]["dpdk"], r, "yes" if r <= 0.8 else "no"))
hc = med.get(("handoff-cache", 64), {})
ht = med.get(("handoff-thread", 64), {})
hp = med.get(("handoff-process", 64), {})
ref = regime_medians("handoff-cache", "dpdk")


def regime_row(label, test, against, ref_test="handoff-cache"):
    """One handoff target row: slabd's repetitions of @test against DPDK's of @ref_test,
    regime by regime; met when slabd is no slower in every regime both ran in."""
    mine, ref = regime_medians(test, "slabd"), regime_medians(ref_test, "dpdk")
    parts, ok, n = [], True, 0
    for g in ("near", "far"):
        if g in mine and g in ref:
            r = mine[g][0] / ref[g][0]
            ok &= r <= 1
            n += 1
            parts.append("%s regime: %.1f against %.1f cycles per object (%d and %d runs): %.2f x"
                         % (g, mine[g][0], ref[g][0], mine[g][1], ref[g][1], r))
    if not n:
        if mine and ref:
            w("| %s no slower than DPDK mempool (%s) | no regime in common: slabd ran %s, DPDK %s | ? |"
              % (label, against, "/".join(mine), "/".join(ref)))
        return
    w("| %s no slower than DPDK mempool (%s) | %s | %s |" % (label, against, "; ".join(parts), "yes" if ok else "no"))


if ref:
    regime_row("cross-thread, kmalloc/kfree handoff", "handoff-thread", "cross-lcore")
    regime_row("cross-thread, kmem_cache_alloc/free handoff", "handoff-cache", "cross-lcore")
    if regime_medians("handoff-process", "dpdk"):
        regime_row("cross-process handoff", "handoff-process", "secondary process", "handoff-process")
    else:
        regime_row("cross-process handoff", "handoff-process",
                   "its cross-lcore handoff: its multi-process mode needs hugepages, see notes")
elif "dpdk" in hc:
    for label, m in (("cross-thread, kmalloc/kfree", ht), ("cross-thread, kmem_cache_alloc/free", hc)):
        if "slabd" in m:
            r = m["slabd"] / hc["dpdk"]
            w("| %s handoff no slower than DPDK mempool (cross-lcore) | %.1f against %.1f cycles per object: %.2f x | %s |"
              % (label, m["slabd"], hc["dpdk"], r, "yes" if r <= 1 else "no"))

# memory target
mem = {}
for f in lines("memory.txt"):  # kmem alloc phase live N rss N ...
    d = dict(zip(f[3::2], (int(x) for x in f[4::2])))
    mem.setdefault(f[1], {})[f[2]] = d


def stats_json(name, phase):
    p = os.path.join(RAW, "memory-%s-%s.json" % (name, phase))
    try:
        with open(p) as fh:
            return json.load(fh)
    except (OSError, ValueError):
        return None


for name in ("slabd-retain0", "slabd"):
    if name in mem and "later" in mem[name]:
        j = stats_json(name, "later")
        pcpu = j["pcpu_bytes"] if j else None
        zones = mem[name]["later"].get("zones", -1)
        jp = stats_json(name, "peak")
        if jp and mem[name].get("peak", {}).get("zones", -1) > 0:
            pk = mem[name]["peak"]["zones"]
            need = jp["in_use_bytes"] + jp["pcpu_bytes"]
            w("| at the peak, zone resident <= 1.1 x (live + per-CPU caches) (%s) | %.2f MiB against %.2f MiB: %.2f x | %s |"
              % ("retain_free = 0" if name.endswith("retain0") else "default config", pk / 2**20, need / 2**20,
                 pk / need if need else 0, "yes" if pk <= 1.1 * need else "no"))
        if pcpu is not None and zones >= 0:
            allowed = 1.1 * (0 + pcpu)
            w("| after freeing everything and %d s, zone resident <= 1.1 x (live + per-CPU caches) (%s) | %.2f MiB resident against 1.1 x (0 + %.1f KiB) = %.1f KiB | %s |"
              % (a.mem_delay, "retain_free = 0" if name.endswith("retain0") else "default config",
                 zones / 2**20, pcpu / 1024, allowed / 1024, "yes" if zones <= allowed else "no"))

cpu_rows = lines("cpu.txt")
for f in cpu_rows:
    if f[0].startswith("idle"):
        wall, ticks, ns = float(f[1]), int(f[2]), int(f[3])
        pct_t = 100.0 * ticks / a.clk_tck / wall
        pct_ns = 100.0 * ns / 1e9 / wall
        w("| idle daemon under 0.1%% of a CPU (%s) | %.3f%% (schedstat), %.2f%% (utime+stime, %d ticks in %.0f s) | %s |"
          % (f[0], pct_ns, pct_t, ticks, wall, "yes" if max(pct_ns, pct_t) < 0.1 else "no"))
w("")

# timings --------------------------------------------------------------------
present = [c for c in COLS if any(c in med[k] for k in ORDER)]
w("## Median TSC cycles (lower is better)")
w("")
w("Median over the rounds of each round's result. pair, pair-rt, burst64, single: cycles per")
w("alloc+free pair; bulk: per object; handoffs: per object, wall clock; threadsN: wall")
w("clock per pair of all threads (two CPUs: the ideal is half a pair's cost).")
w("")
w("| test | size/n | " + " | ".join(present) + " | fastest peer | slabd/fastest |")
w("|---|---:|" + "---:|" * len(present) + "---|---:|")
tsv = ["test\tsize\t" + "\t".join(present)]
for k in ORDER:
    m = med[k]
    bv, bp = best_peer(m)
    r = (m["slabd"] / bv) if ("slabd" in m and bv) else None
    w("| %s | %d | %s | %s | %s |" % (k[0], k[1], " | ".join(fmt(m.get(c)) for c in present), bp or "-", fmt(r, 2)))
    tsv.append("%s\t%d\t%s" % (k[0], k[1], "\t".join(fmt(m.get(c), 2) for c in present)))
w("")
w("What each test does: " + "; ".join("**%s** %s" % (t, desc(t)) for t in dict.fromkeys(k[0] for k in ORDER) if desc(t)) + ".")
w("")
if reps:
    w("## Handoffs by cross-CPU regime")
    w("")
    w("Every handoff repetition with the cache-line round trip between its two CPUs measured")
    w("around it (xcpu, cycles). On this VM the round trip is bimodal over time (the hypervisor")
    w("moves the vCPUs), and every handoff follows it, so a median over all rounds mostly says")
    w("which regime each program happened to run in. The handoff targets above compare")
    w("repetitions of one regime (near: xcpu below %d cycles before and after the run; far:" % XCPU_NEAR)
    w("at or above it both times; mixed: one of each, counted here and used nowhere).")
    w("")
    w("| test | allocator | near: median cycles per object (runs, median xcpu) | far: median (runs, median xcpu) | mixed runs |")
    w("|---|---|---:|---:|---:|")
    for t in ("handoff-thread", "handoff-cache", "handoff-process"):
        for al in sorted(reps.get(t, {})):
            cells = []
            for g in ("near", "far"):
                v = [(c, x) for c, x, rg in reps[t][al] if rg == g]
                cells.append("%.1f (%d, %.0f)" % (statistics.median(c for c, _ in v), len(v),
                                                  statistics.median(x for _, x in v)) if v else "-")
            w("| %s | %s | %s | %s | %d |" % (t, al, cells[0], cells[1],
                                              sum(1 for _, _, rg in reps[t][al] if rg == "mixed")))
    w("")
w("## Ratio peer/slabd (> 1: slabd is faster; the pair target is >= 1.25)")
w("")
peers_present = [c for c in present if c != "slabd"]
w("| test | size/n | " + " | ".join("%s/slabd" % c for c in peers_present) + " |")
w("|---|---:|" + "---:|" * len(peers_present))
for k in ORDER:
    m = med[k]
    if "slabd" not in m:
        continue
    w("| %s | %d | %s |" % (k[0], k[1], " | ".join(fmt(m[c] / m["slabd"], 2) if c in m else "-" for c in peers_present)))
w("")
w("![ratios](ratios.png)")
w("")

# plot data: a chosen set of rows, ratio peer/slabd per peer
PLOT = [("pair", 8), ("pair", 64), ("pair", 256), ("pair", 1024), ("pair", 4096), ("pair", 32768),
        ("pair-rt", 64), ("burst64", 64), ("bulk", 1), ("bulk", 8), ("bulk", 32),
        ("handoff-thread", 64), ("handoff-cache", 64), ("handoff-process", 64)]
PLOT += [k for k in ORDER if k[0].startswith("threads")]
rows = [k for k in PLOT if k in med and "slabd" in med[k]]
with open(os.path.join(a.out, "ratios.dat"), "w") as fh:
    fh.write("# test " + " ".join(peers_present) + "\n")
    for k in rows:
        m = med[k]
        fh.write('"%s %d" %s\n' % (k[0], k[1], " ".join(("%.3f" % (m[c] / m["slabd"])) if c in m else "NaN" for c in peers_present)))
with open(os.path.join(a.out, "ratios.gp"), "w") as fh:
    fh.write("""set terminal pngcairo size 1400,700 noenhanced font ",10"
set output '%s'
set title "peer cycles / slabd cycles, medians of %d rounds (above 1: slabd is faster); run of %s, %s%s"
set style data histograms
set style histogram clustered gap 1
set style fill solid 0.85 border -1
set boxwidth 0.9
set logscale y 2
set yrange [0.125:32]
set ytics ("1/8" 0.125, "1/4" 0.25, "1/2" 0.5, "1" 1, "1.25" 1.25, "2" 2, "4" 4, "8" 8, "16" 16, "32" 32)
set grid ytics
set xtics rotate by -35
set key outside right top
set arrow from graph 0, first 1 to graph 1, first 1 nohead lw 2 lc rgb "black"
set arrow from graph 0, first 1.25 to graph 1, first 1.25 nohead dt 2 lc rgb "red"
plot '%s' using 2:xtic(1) title '%s'%s
""" % ("ratios.png", a.runs, text("date.txt", "?"),
       (load.splitlines() or ["load average ?"])[0], " (--quick: not a measurement)" if a.quick else "",
       "ratios.dat", peers_present[0] if peers_present else "",
       "".join(", '' using %d title '%s'" % (i + 2, c) for i, c in enumerate(peers_present[1:], 1))))
with open(os.path.join(a.out, "summary.tsv"), "w") as fh:
    fh.write("\n".join(tsv) + "\n")

# instruction counts -----------------------------------------------------------
cgk = text("callgrind-kbench.md")
cgb = lines("callgrind-bulk.txt")
cgh = lines("callgrind-handoff.txt")
if cgk or cgb or cgh:
    w("## Instructions (callgrind)")
    w("")
    if cgk:
        # keep run.sh's first table and its explanation
        part = cgk.split("### Instruction ratio")[0].strip()
        part = part[part.find("### Instructions"):] if "### Instructions" in part else part
        w(part.replace("### ", "### kbench: "))
        w("")
    if cgb:
        w("### bulkbench: instructions per object, bulk alloc + bulk free of n (constant n)")
        w("")
        w("(Ir with --objects N minus Ir with --objects 0) / N; slabd with --fake-cpu 0 (the fast path).")
        w("")
        allocs = list(dict.fromkeys(f[0] for f in cgb))
        w("| n | " + " | ".join(allocs) + " |")
        w("|---:|" + "---:|" * len(allocs))
        for n in sorted({int(f[2]) for f in cgb}):
            d = {f[0]: f[3] for f in cgb if int(f[2]) == n}
            w("| %d | %s |" % (n, " | ".join(d.get(x, "-") for x in allocs)))
        w("")
    if cgh:
        w("### bulkbench: instructions per handed-off object (handoff-cg)")
        w("")
        w("Rounds of 256 single allocations as one CPU (DPDK: lcore), then their 256 single frees")
        w("as the next, in one thread: every miss and exchange of the cross-thread handoff, none")
        w("of its cache-line transfers. (Ir(25600 + N) - Ir(25600)) / N; slabd with --fake-cpu 0.")
        w("")
        d = {f[0]: f[3] for f in cgh}
        allocs = list(d)
        w("| " + " | ".join(allocs) + (" | slabd / dpdk |" if "slabd" in d and "dpdk" in d else " |"))
        w("|" + "---:|" * (len(allocs) + ("slabd" in d and "dpdk" in d)))
        row = [d[x] for x in allocs]
        if "slabd" in d and "dpdk" in d:
            row.append("%.2f" % (float(d["slabd"]) / float(d["dpdk"])))
        w("| " + " | ".join(row) + " |")
        w("")

# memory -------------------------------------------------------------------------
if mem:
    w("## Memory: 64-B objects live at the peak, then all freed")
    w("")
    w("Peers: the process's RSS above its start (`VmRSS` at each look minus at the start).")
    w("slabd: the region's allocated bytes (st_blocks of the zones memfd, through")
    w("/proc/self/map_files; the metadata and per-CPU segments are in \"region\"), whoever")
    w("touched them; the client's own RSS counts the shared pages it touched. \"later\": %d s"
      % a.mem_delay)
    w("after the frees (slabd: idle shrink after 5 s, release_delay_ms 5 s, scans every 100 ms).")
    w("")
    w("| allocator | live at peak | peak | peak / live | right after the frees | later | later / peak |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    MiB = float(2**20)
    for name, d in mem.items():
        if not all(p in d for p in ("start", "peak", "freed", "later")):
            continue
        key = "zones" if name.startswith("slabd") else "rss"
        base = 0 if name.startswith("slabd") else d["start"][key]
        v = [d[p][key] - base for p in ("peak", "freed", "later")]
        w("| %s (%s) | %.1f MiB | %.1f MiB | %.2f | %.1f MiB | %.1f MiB | %.2f |"
          % (name, "zone resident" if key == "zones" else "RSS growth", d["peak"]["live"] / MiB,
             v[0] / MiB, v[0] / d["peak"]["live"] if d["peak"]["live"] else 0, v[1] / MiB, v[2] / MiB,
             v[2] / v[0] if v[0] else 0))
        if key == "zones" and d["later"].get("region", -1) >= 0:
            meta_later = d["later"]["region"] - d["later"]["zones"]
            w("| %s: metadata and per-CPU segments (region minus zones) | | | | | %.1f MiB | |" % (name, meta_later / MiB))
    w("")
    for name in ("slabd", "slabd-retain0"):
        j = [stats_json(name, p) for p in ("start", "peak", "freed", "later")]
        if not all(j):
            continue
        w("`slabctl stats --json` for %s at start / peak / freed / later (KiB):" % name)
        w("")
        w("| field | start | peak | freed | later |")
        w("|---|---:|---:|---:|---:|")
        for fld in ("in_use_bytes", "pcpu_bytes", "depot_bytes", "slab_free_bytes", "free_bytes", "released_bytes"):
            w("| %s | %s |" % (fld, " | ".join("%.0f" % (x[fld] / 1024.0) for x in j)))
        dm = []
        for p in ("start", "peak", "freed", "later"):
            dtext = ""
            try:
                with open(os.path.join(RAW, "memory-%s-%s.daemon" % (name, p))) as fh:
                    dtext = fh.read()
            except OSError:
                pass
            mm = re.search(r"RssAnon:\s+(\d+)", dtext)
            dm.append(mm.group(1) if mm else "-")
        w("| daemon RssAnon | %s |" % " | ".join(dm))
        w("")

# cpu -------------------------------------------------------------------------------
if cpu_rows:
    w("## The daemon's CPU use")
    w("")
    w("utime+stime from /proc/PID/stat (%d ticks a second) and the sum of the threads' run" % a.clk_tck)
    w("time from /proc/PID/task/*/schedstat (ns), over the window; time slices: how often its")
    w("threads were put on a CPU (about the wake-ups). On a VM, run time includes the host's")
    w("steal while the thread ran: measure on a quiet machine.")
    w("")
    w("| window | wall s | utime+stime ticks | % of one CPU (ticks) | run time ms | % of one CPU (schedstat) | time slices per s |")
    w("|---|---:|---:|---:|---:|---:|---:|")
    LABEL = {"idle-fresh": "idle, no client, after start-up", "idle-after": "idle, no client, after the load",
             "load-kbench": "under load: kbench-slabd pair, burst64, handoff, threads8",
             "load-xproc": "under load: cross-process handoff, 3 x 2M objects"}
    for f in cpu_rows:
        wall, ticks, ns = float(f[1]), int(f[2]), int(f[3])
        sl = int(f[4]) if len(f) > 4 else 0
        w("| %s | %.1f | %d | %.3f | %.1f | %.3f | %.0f |" % (LABEL.get(f[0], f[0]), wall, ticks, 100.0 * ticks / a.clk_tck / wall,
                                                        ns / 1e6, 100.0 * ns / 1e9 / wall, sl / wall))
    w("")

for name in ("kbench.md", "bulk.md"):
    t = text(name)
    if t:
        w("<details><summary>%s: the script's own report</summary>" % name)
        w("")
        w(t)
        w("")
        w("</details>")
        w("")

with open(os.path.join(a.out, "report.md"), "w") as fh:
    fh.write("\n".join(out) + "\n")
