#!/usr/bin/env python3
"""Small stdlib-only helpers for bench/run.sh.

Subcommands:
  ports N                      print N distinct free TCP ports on 127.0.0.1
  snap PID[,PID...]            print a JSON snapshot: CPU ticks of the pids, per-CPU busy/total
                               jiffies from /proc/stat, monotonic time
  children PID                 print the pids whose parent is PID (one per line)
  record ...                   turn two snapshots + load-tool output into one JSON result line
  summary RESULTS.jsonl ...    print the per-proxy median table and ratios (and a markdown file)

CPU accounting: utime+stime (fields 14 and 15 of /proc/PID/stat, after the ')' of comm). For a
process these fields are the sum over all its threads, including threads that already exited.
They are in clock ticks (SC_CLK_TCK, usually 100/s, i.e. 10 ms resolution; over a 10 s run at
~100% CPU that is ~0.1% error).
"""

import json
import signal
import os
import socket
import statistics
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")


def die(msg):
    print(f"bench_helper: {msg}", file=sys.stderr)
    sys.exit(1)


# ---------------------------------------------------------------- ports


def cmd_ports(args):
    """Free ports below the kernel's ephemeral range, so that while a proxy is restarted between
    runs no outgoing connection (ours or another program's bind(0)) can take its port."""
    import random
    n = int(args[0])
    lo_eph = 32768
    try:
        with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
            lo_eph = int(f.read().split()[0])
    except OSError:
        pass
    lo, hi = 20000, max(20000 + 1000, lo_eph) - 1
    rng = random.Random()
    socks, ports = [], []
    try:
        for _ in range(1000):  # bounded
            if len(ports) == n:
                break
            p = rng.randint(lo, hi)
            if p in ports:
                continue
            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                s.bind(("127.0.0.1", p))
            except OSError:
                s.close()
                continue
            socks.append(s)  # keep bound until all are chosen, so they are distinct
            ports.append(p)
    finally:
        for s in socks:
            s.close()
    if len(ports) < n:
        die("could not find free ports")
    print(" ".join(str(p) for p in ports))


# ---------------------------------------------------------------- /proc


def proc_ticks(pid, user_only=False):
    try:
        with open(f"/proc/{pid}/stat") as f:
            data = f.read()
    except FileNotFoundError:
        die(f"process {pid} is gone")
    rest = data[data.rindex(")") + 2 :].split()
    # rest[0] is field 3 (state); utime is field 14, stime field 15
    return int(rest[11]) + (0 if user_only else int(rest[12]))


def cpu_jiffies():
    """{cpuN: (busy, total, irq+softirq)} jiffies from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu") or line.startswith("cpu "):
                continue
            parts = line.split()
            vals = [int(x) for x in parts[1:]]
            idle = vals[3] + (vals[4] if len(vals) > 4 else 0)  # idle + iowait
            total = sum(vals[:8])  # user..steal (guest is already in user)
            irq = vals[5] + vals[6] if len(vals) > 6 else 0  # irq + softirq
            out[parts[0]] = (total - idle, total, irq)
    return out


def status_kb(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cmd_snap(args):
    pids = [int(p) for p in args[0].split(",") if p]
    others = [int(p) for p in (args[1] if len(args) > 1 else "").split(",") if p]
    snap = {
        "t": time.monotonic(),
        "ticks": sum(proc_ticks(p) for p in pids),
        "user_ticks": sum(proc_ticks(p, user_only=True) for p in pids),
        "other_ticks": sum(proc_ticks(p) for p in others),
        "cpus": cpu_jiffies(),
    }
    print(json.dumps(snap))


def cmd_idle(args):
    """idle [WAIT_S]: sample /proc/stat over 1 s windows until every CPU is under 10% busy or
    WAIT_S (default 0) seconds have passed; print busy% per CPU, warn if the machine is busy."""
    wait_s = float(args[0]) if args else 0.0
    deadline = time.monotonic() + wait_s
    while True:
        a = cpu_jiffies()
        time.sleep(1.0)
        b = cpu_jiffies()
        busy = {c: 100.0 * (b[c][0] - a[c][0]) / max(1, b[c][1] - a[c][1]) for c in a if c in b}
        txt = ", ".join(f"{c} {v:.0f}%" for c, v in sorted(busy.items()))
        if all(v <= 10 for v in busy.values()):
            print(f"   idle check: {txt}")
            return
        if time.monotonic() >= deadline:
            break
    print(f"!! WARNING: machine not idle ({txt}): numbers will be noisy. Top CPU users:",
          file=sys.stderr)
    sys.stderr.flush()
    os.system("ps -eo pid,pcpu,etime,comm --sort=-pcpu | head -n 6 >&2")


def cmd_runload(args):
    """runload OUT CPUFILE TIMEOUT -- CMD...: run the load tool with output to OUT, write its
    user+sys CPU seconds (from wait4 rusage, all its threads) to CPUFILE, exit with its status."""
    out, cpufile, tmo = args[0], args[1], float(args[2])
    assert args[3] == "--"
    cmd = args[4:]
    with open(out, "w") as f:
        pid = os.fork()
        if pid == 0:
            os.dup2(f.fileno(), 1)
            os.dup2(f.fileno(), 2)
            try:
                os.execvp(cmd[0], cmd)
            finally:
                os._exit(127)

    interrupted = []
    # On Ctrl-C the load tool gets SIGINT too and exits on its own; remember it, and die of SIGINT
    # afterwards so that bash runs its INT trap (bash ignores a SIGINT its child "handled").
    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, lambda signum, _frame: interrupted.append(signum))
    deadline = time.monotonic() + tmo
    status, ru = 0, None
    while True:
        wpid, status, ru = os.wait4(pid, os.WNOHANG)
        if wpid == pid:
            break
        if time.monotonic() > deadline or interrupted:
            if not interrupted:
                print(f"bench_helper: {cmd[0]} killed after {tmo:.0f} s", file=sys.stderr)
            os.kill(pid, 9)
            _, status, ru = os.wait4(pid, 0)
            break
        time.sleep(0.05)
    if interrupted:
        signal.signal(interrupted[0], signal.SIG_DFL)
        os.kill(os.getpid(), interrupted[0])
    with open(cpufile, "w") as f:
        f.write(str(ru.ru_utime + ru.ru_stime) if ru else "0")
    sys.exit(os.waitstatus_to_exitcode(status) if status else 0)


def cmd_children(args):
    ppid = args[0]
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                data = f.read()
        except OSError:
            continue
        rest = data[data.rindex(")") + 2 :].split()
        if rest[1] == ppid:
            print(d)


# ---------------------------------------------------------------- load-tool output


def dur_to_ms(s):
    s = s.strip()
    for suf, mul in (("us", 1e-3), ("ms", 1.0), ("m", 60000.0), ("s", 1000.0)):
        if s.endswith(suf):
            return float(s[: -len(suf)]) * mul
    return float(s)


def parse_wrk(text):
    r = {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "non2xx": 0, "sock_errors": 0,
         "sock_detail": ""}
    in_dist = False
    for line in text.splitlines():
        t = line.strip()
        if t.startswith("Latency Distribution"):
            in_dist = True
            continue
        if in_dist:
            parts = t.split()
            if len(parts) == 2 and parts[0].endswith("%"):
                if parts[0] == "50%":
                    r["p50_ms"] = dur_to_ms(parts[1])
                elif parts[0] == "99%":
                    r["p99_ms"] = dur_to_ms(parts[1])
                continue
            in_dist = False
        if " requests in " in t:
            r["requests"] = int(t.split()[0])
        elif t.startswith("Requests/sec:"):
            r["rps"] = float(t.split()[1])
        elif t.startswith("Non-2xx or 3xx responses:"):
            r["non2xx"] = int(t.split(":")[1])
        elif t.startswith("Socket errors:"):
            # Socket errors: connect 0, read 0, write 0, timeout 0
            nums = [int(x.strip(",")) for x in t.split(":")[1].split() if x.strip(",").isdigit()]
            r["sock_errors"] = sum(nums)
            r["sock_detail"] = t
    if r["requests"] == 0 or r["p99_ms"] is None:
        r["parse_error"] = "could not parse wrk output"
    return r


def parse_h2load(text, logfile):
    r = {"requests": 0, "rps": 0.0, "p50_ms": None, "p99_ms": None, "non2xx": 0, "sock_errors": 0,
         "sock_detail": ""}
    for line in text.splitlines():
        t = line.strip()
        if t.startswith("finished in"):
            # finished in 10.00s, 12345.60 req/s, 1.23MB/s
            for part in t.split(","):
                if "req/s" in part:
                    r["rps"] = float(part.split()[0])
        elif t.startswith("requests:"):
            # requests: N total, N started, N done, N succeeded, N failed, N errored, N timeout
            fields = {}
            for part in t.split(":", 1)[1].split(","):
                num, name = part.split()
                fields[name] = int(num)
            r["requests"] = fields.get("succeeded", 0)
            bad = fields.get("failed", 0) + fields.get("errored", 0) + fields.get("timeout", 0)
            r["sock_errors"] = bad
            r["sock_detail"] = t
        elif t.startswith("status codes:"):
            # status codes: N 2xx, N 3xx, N 4xx, N 5xx
            for part in t.split(":", 1)[1].split(","):
                num, cls = part.split()
                if cls != "2xx":
                    r["non2xx"] += int(num)
    lat = []
    if logfile and os.path.exists(logfile):
        with open(logfile) as f:
            for line in f:
                cols = line.split("\t")
                if len(cols) >= 3:
                    lat.append(int(cols[2]) / 1000.0)
    if lat:
        lat.sort()
        r["p50_ms"] = lat[int(0.50 * (len(lat) - 1))]
        r["p99_ms"] = lat[int(0.99 * (len(lat) - 1))]
    if r["requests"] == 0 or r["p99_ms"] is None:
        r["parse_error"] = "could not parse h2load output"
    return r


# ---------------------------------------------------------------- record


def cmd_record(args):
    opts = {}
    it = iter(args)
    for a in it:
        if not a.startswith("--"):
            die(f"record: unexpected {a}")
        opts[a[2:]] = next(it)
    before = json.loads(open(opts["before"]).read())
    after = json.loads(open(opts["after"]).read())
    text = open(opts["load-out"]).read()
    if opts["tool"] == "wrk":
        r = parse_wrk(text)
    else:
        r = parse_h2load(text, opts.get("h2log"))
    wall = after["t"] - before["t"]
    cpu_s = (after["ticks"] - before["ticks"]) / CLK_TCK
    res = {
        "proxy": opts["proxy"],
        "mode": opts["mode"],
        "round": int(opts["round"]),
        **r,
        "wall_s": round(wall, 3),
        "proxy_cpu_s": cpu_s,
        "proxy_cpu_pct": 100.0 * cpu_s / wall if wall > 0 else 0.0,
        "cpu_us_per_req": (cpu_s * 1e6 / r["requests"]) if r["requests"] else None,
        # The proxy's own code (utime) per request: the part a proxy's design decides; the
        # rest (stime) is mostly the kernel's TCP work, alike for proxies making the same calls.
        "user_us_per_req": ((after.get("user_ticks", 0) - before.get("user_ticks", 0)) / CLK_TCK * 1e6
                            / r["requests"]) if r["requests"] else None,
    }
    for cpu in ("cpu0", "cpu1"):
        if cpu in before["cpus"] and cpu in after["cpus"]:
            db = after["cpus"][cpu][0] - before["cpus"][cpu][0]
            dt = after["cpus"][cpu][1] - before["cpus"][cpu][1]
            res[f"{cpu}_busy_pct"] = 100.0 * db / dt if dt else 0.0
            dsi = after["cpus"][cpu][2] - before["cpus"][cpu][2]
            res[f"{cpu}_irq_pct"] = 100.0 * dsi / dt if dt else 0.0
    # CPU time on the whole machine that went neither to the proxy, nor to the backend, nor to
    # the load tool: other processes (e.g. a cargo build) or unattributed irq time. In % of one CPU.
    busy_s = sum(after["cpus"][c][0] - before["cpus"][c][0] for c in after["cpus"] if c in before["cpus"]) / CLK_TCK
    other_s = (after.get("other_ticks", 0) - before.get("other_ticks", 0)) / CLK_TCK
    load_s = float(open(opts["load-cpu"]).read()) if opts.get("load-cpu") else 0.0
    res["backend_cpu_pct"] = 100.0 * other_s / wall if wall > 0 else 0.0
    res["load_cpu_pct"] = 100.0 * load_s / wall if wall > 0 else 0.0
    res["foreign_cpu_pct"] = 100.0 * (busy_s - cpu_s - other_s - load_s) / wall if wall > 0 else 0.0
    # Everything CPU 0 did (proxy + irq/softirq run there), per request: complete, but only
    # meaningful when nothing else ran on CPU 0 (see other CPU%).
    if "cpu0" in after["cpus"] and "cpu0" in before["cpus"] and r["requests"]:
        d0 = (after["cpus"]["cpu0"][0] - before["cpus"]["cpu0"][0]) / CLK_TCK
        res["cpu0_us_per_req"] = d0 * 1e6 / r["requests"]
    else:
        res["cpu0_us_per_req"] = None
    rss_pid = opts.get("rss-pid")
    if rss_pid:
        res["hwm_kb"] = status_kb(rss_pid, "VmHWM")
        res["rss_kb"] = status_kb(rss_pid, "VmRSS")
    flags = []
    if r.get("parse_error"):
        flags.append(r["parse_error"])
    if r["non2xx"]:
        flags.append(f"{r['non2xx']} non-2xx responses")
    if r["sock_errors"]:
        flags.append(f"{r['sock_errors']} socket errors ({r['sock_detail']})")
    res["flags"] = flags
    noisy_limit = float(opts.get("noisy-limit", "10"))
    noisy = res["foreign_cpu_pct"] > noisy_limit
    res["warnings"] = [f"noisy: {res['foreign_cpu_pct']:.0f}% of a CPU went to other processes"] if noisy else []
    accept = opts.get("accept-noisy", "1") == "1" or not noisy
    with open(opts["results"] if accept else opts["results"] + ".rejected", "a") as f:
        f.write(json.dumps(res) + "\n")
    # one human line per run
    p50 = f"{r['p50_ms']:.3f}" if r["p50_ms"] is not None else "?"
    p99 = f"{r['p99_ms']:.3f}" if r["p99_ms"] is not None else "?"
    cpr = f"{res['cpu_us_per_req']:.2f}" if res["cpu_us_per_req"] is not None else "?"
    c0pr = f"{res['cpu0_us_per_req']:.2f}" if res["cpu0_us_per_req"] is not None else "?"
    upr = f"{res['user_us_per_req']:.2f}" if res["user_us_per_req"] is not None else "?"
    line = (f"  {res['proxy']:<8} {res['mode']:<3} round {res['round']}: {r['rps']:>10.0f} req/s  "
            f"p50 {p50} ms  p99 {p99} ms  {cpr} CPU-us/req ({c0pr} CPU0, {upr} user)  proxy CPU {res['proxy_cpu_pct']:.0f}%  "
            f"cpu0 busy {res.get('cpu0_busy_pct', 0):.0f}% (irq {res.get('cpu0_irq_pct', 0):.0f}%)  cpu1 busy {res.get('cpu1_busy_pct', 0):.0f}%")
    line += f"  other {res['foreign_cpu_pct']:.0f}%"
    if rss_pid:
        line += f"  HWM {res['hwm_kb'] / 1024:.1f} MiB"
    print(line)
    for fl in flags:
        print(f"  !! FLAG {res['proxy']} {res['mode']} round {res['round']}: {fl}")
    for w in res["warnings"]:
        print(f"  ?? {res['proxy']} {res['mode']} round {res['round']}: {w}"
              + ("" if accept else " -> measuring again"))
    if not accept:
        sys.exit(4)


# ---------------------------------------------------------------- summary


def med(vals):
    vals = [v for v in vals if v is not None]
    return statistics.median(vals) if vals else None


def fmt(v, spec):
    return "-" if v is None else format(v, spec)


def cmd_summary(args):
    results_path = args[0]
    opts = {}
    it = iter(args[1:])
    for a in it:
        opts[a[2:]] = next(it)
    rows = [json.loads(l) for l in open(results_path) if l.strip()]
    order = ["shoal", "nginx", "haproxy"]
    modes = [m for m in ("h1", "h2") if any(r["mode"] == m for r in rows)]
    versions = open(opts["versions"]).read().strip() if "versions" in opts else ""
    params = opts.get("params", "")

    md = []
    out = []
    any_flag = False
    for mode in modes:
        tool = "wrk" if mode == "h1" else "h2load"
        title = f"{'HTTP/1.1' if mode == 'h1' else 'HTTP/2 (h2c prior knowledge)'} via {tool} — median over rounds"
        out.append("")
        out.append(title)
        hdr = ["proxy", "rounds", "req/s", "p50 ms", "p99 ms", "CPU-us/req", "user-us/req", "CPU0-us/req",
               "proxy CPU%", "cpu0 busy%", "cpu0 irq%", "cpu1 busy%", "other CPU%", "peak RSS MiB",
               "flags"]
        table = []
        meds = {}
        for proxy in order:
            rs = [r for r in rows if r["proxy"] == proxy and r["mode"] == mode]
            if not rs:
                continue
            m = {
                "rps": med([r["rps"] for r in rs]),
                "p50": med([r["p50_ms"] for r in rs]),
                "p99": med([r["p99_ms"] for r in rs]),
                "cpr": med([r["cpu_us_per_req"] for r in rs]),
                "upr": med([r.get("user_us_per_req") for r in rs]),
                "c0pr": med([r.get("cpu0_us_per_req") for r in rs]),
                "irq0": med([r.get("cpu0_irq_pct") for r in rs]),
                "pct": med([r["proxy_cpu_pct"] for r in rs]),
                "cpu0": med([r.get("cpu0_busy_pct") for r in rs]),
                "cpu1": med([r.get("cpu1_busy_pct") for r in rs]),
                "hwm": med([r.get("hwm_kb", 0) / 1024 for r in rs]),
                "foreign": med([r.get("foreign_cpu_pct") for r in rs]),
            }
            meds[proxy] = m
            nflags = sum(len(r["flags"]) for r in rs)
            nwarn = sum(len(r.get("warnings", [])) for r in rs)
            any_flag = any_flag or nflags > 0
            status = f"!! {nflags} errors" if nflags else (f"{nwarn} noisy" if nwarn else "ok")
            table.append([proxy, str(len(rs)), fmt(m["rps"], ".0f"), fmt(m["p50"], ".3f"),
                          fmt(m["p99"], ".3f"), fmt(m["cpr"], ".2f"), fmt(m["upr"], ".2f"), fmt(m["c0pr"], ".2f"),
                          fmt(m["pct"], ".0f"), fmt(m["cpu0"], ".0f"), fmt(m["irq0"], ".0f"),
                          fmt(m["cpu1"], ".0f"), fmt(m["foreign"], ".0f"),
                          fmt(m["hwm"], ".1f"), status])
        widths = [max(len(h), *(len(row[i]) for row in table)) for i, h in enumerate(hdr)]
        out.append("  ".join(h.rjust(w) if i else h.ljust(w) for i, (h, w) in enumerate(zip(hdr, widths))))
        for row in table:
            out.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))))
        md.append(f"#### {title}")
        md.append("")
        md.append("| " + " | ".join(hdr) + " |")
        md.append("|" + "|".join("---" if i == 0 else "---:" for i in range(len(hdr))) + "|")
        for row in table:
            md.append("| " + " | ".join(row) + " |")
        md.append("")

        ratio_lines = []
        if "shoal" in meds:
            for other in ("nginx", "haproxy"):
                if other not in meds:
                    continue
                a, b = meds["shoal"], meds[other]
                rr = a["rps"] / b["rps"] if a["rps"] and b["rps"] else None
                cr = a["cpr"] / b["cpr"] if a["cpr"] and b["cpr"] else None
                c0 = a["c0pr"] / b["c0pr"] if a["c0pr"] and b["c0pr"] else None
                pr = a["p99"] / b["p99"] if a["p99"] and b["p99"] else None
                ratio_lines.append(
                    f"shoal/{other}: req/s {fmt(rr, '.2f')}x (higher is better), "
                    f"CPU-us/req {fmt(cr, '.2f')}x (lower is better; CPU0-us/req {fmt(c0, '.2f')}x), "
                    f"p99 {fmt(pr, '.2f')}x")
        if ratio_lines:
            out.append("")
            out.extend(ratio_lines)
            md.extend(f"- {l}" for l in ratio_lines)
            md.append("")
        # saturation hint: proxy not at ~100% CPU while CPU 1 is busy => load side is the limit
        for proxy, m in meds.items():
            if (m["pct"] is not None and m["pct"] < 90 and (m["cpu1"] or 0) > 90
                    and (m["foreign"] or 0) <= 10):
                note = (f"note: {proxy} ({mode}) used only {m['pct']:.0f}% of CPU 0 while CPU 1 (wrk + "
                        f"backend) was {m['cpu1']:.0f}% busy: req/s is limited by the load side; "
                        "CPU-us/req is still valid.")
                out.append(note)
                md.append(f"- {note}")
        if any(m["pct"] is not None and m["pct"] < 90 for m in meds.values()):
            md.append("")

    # per-round raw numbers
    md.append("<details><summary>per-round numbers</summary>")
    md.append("")
    md.append("| proxy | mode | round | req/s | p50 ms | p99 ms | CPU-us/req | user-us/req | CPU0-us/req | proxy CPU% | cpu0 busy% | cpu0 irq% | cpu1 busy% | other CPU% | HWM MiB | flags |")
    md.append("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|")
    for r in rows:
        md.append(f"| {r['proxy']} | {r['mode']} | {r['round']} | {r['rps']:.0f} | {fmt(r['p50_ms'], '.3f')} | "
                  f"{fmt(r['p99_ms'], '.3f')} | {fmt(r['cpu_us_per_req'], '.2f')} | {fmt(r.get('user_us_per_req'), '.2f')} | "
                  f"{fmt(r.get('cpu0_us_per_req'), '.2f')} | "
                  f"{r['proxy_cpu_pct']:.0f} | {fmt(r.get('cpu0_busy_pct'), '.0f')} | "
                  f"{fmt(r.get('cpu0_irq_pct'), '.0f')} | {fmt(r.get('cpu1_busy_pct'), '.0f')} | "
                  f"{fmt(r.get('foreign_cpu_pct'), '.0f')} | {r.get('hwm_kb', 0) / 1024:.1f} | "
                  f"{'; '.join(r['flags'] + r.get('warnings', [])) or 'ok'} |")
    md.append("")
    md.append("</details>")
    md.append("")

    if any_flag:
        out.append("")
        out.append("!! Some runs were flagged (non-2xx responses, socket errors or unparsable output):")
        for r in rows:
            for fl in r["flags"]:
                out.append(f"!!   {r['proxy']} {r['mode']} round {r['round']}: {fl}")
    warns = [(r, w) for r in rows for w in r.get("warnings", [])]
    if warns:
        out.append("")
        out.append("?? Runs kept although other processes used the CPUs (retries exhausted):")
        for r, w in warns:
            out.append(f"??   {r['proxy']} {r['mode']} round {r['round']}: {w}")
    print("\n".join(out))

    if "out" in opts:
        head = [f"### shoal bench — {opts.get('date', '')}", ""]
        if params:
            head += [f"Parameters: {params}.", ""]
        if opts.get("backend"):
            head += [f"Backend alone (wrk on CPU 0, backend on CPU 1): {opts['backend']}", ""]
        if versions:
            head += ["```", versions, "```", ""]
        with open(opts["out"], "w") as f:
            f.write("\n".join(head + md) + "\n")
        print(f"\nmarkdown written to {opts['out']}")
    sys.exit(3 if any_flag else 0)


def main():
    if len(sys.argv) < 2:
        die(__doc__)
    cmd, args = sys.argv[1], sys.argv[2:]
    fn = {"ports": cmd_ports, "idle": cmd_idle, "runload": cmd_runload, "snap": cmd_snap, "children": cmd_children,
          "record": cmd_record, "summary": cmd_summary}.get(cmd)
    if fn is None:
        die(f"unknown command {cmd}")
    fn(args)


if __name__ == "__main__":
    main()
