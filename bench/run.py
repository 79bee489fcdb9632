"""make bench: the API against the bare-Flask ceiling, and the dispatcher's throughput.

    python -m bench.run [--db sqlite,postgres] [--scales 10000,100000,1000000]
                        [--duration 5] [--rounds 3] [--connections 16] [--workers 4]
                        [--leads 200000] [--dispatch-seconds 20]
                        [--skip-api | --skip-dispatcher] [--skip-idle]
                        [--campaigns 5000] [--idle-leads 1000000] [--mailboxes 10000]
                        [--in-window 0.01] [--passes 20] [--work-seconds 60]
                        (the idle scheduler: bench.idle)

Every server runs on 127.0.0.1 and every load is bounded in time. Results go to
bench/results/latest.json and a chart to docs/bench.png.
"""
import argparse
import contextlib
import json
import os
import platform
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

from bench import idle

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
VAR = ROOT / "var" / "bench"
RESULTS = ROOT / "bench" / "results"
PG_ADMIN = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")


# ---- processes -------------------------------------------------------------------------

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_http(url, headers=None, timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}),
                                        timeout=min(timeout, 30)) as response:
                return response.read()
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")


@contextlib.contextmanager
def gunicorn(app, env, workers):
    port = free_port()
    proc = subprocess.Popen(
        [str(VENV_BIN / "gunicorn"), app, "-c", str(ROOT / "gunicorn.conf.py"),
         "--bind", f"127.0.0.1:{port}", "--workers", str(workers), "--no-control-socket"],
        cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        yield proc, f"http://127.0.0.1:{port}"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()


def worker_rss_mb(master_pid):
    """The largest resident set among a gunicorn master's workers, in MB."""
    try:
        children = Path(f"/proc/{master_pid}/task/{master_pid}/children").read_text().split()
    except OSError:
        return None
    sizes = []
    for pid in children:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{pid}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    sizes.append(int(line.split()[1]) / 1024)
    return round(max(sizes), 1) if sizes else None


# ---- load ------------------------------------------------------------------------------

_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _ms(text):
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    return round(float(match.group(1)) * _UNITS[match.group(2)], 3)


def wrk(url, *, key=None, connections, duration):
    cmd = ["wrk", "-t2", f"-c{connections}", f"-d{duration}s", "--latency", "--timeout", "10s"]
    if key:
        cmd += ["-H", f"Authorization: Bearer {key}"]
    out = subprocess.run(cmd + [url], capture_output=True, text=True, check=True,
                         timeout=duration + 60).stdout
    result = {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))}
    for pct in ("50", "99"):
        result[f"p{pct}_ms"] = _ms(re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M).group(1))
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    result["non_2xx"] = int(non2xx.group(1)) if non2xx else 0
    result["requests"] = int(re.search(r"(\d+) requests in", out).group(1))
    return result


# ---- databases -------------------------------------------------------------------------

def pg_database(name, *, fresh=False):
    import psycopg
    conn = psycopg.connect(PG_ADMIN, autocommit=True)
    with conn.cursor() as cur:
        if fresh:
            cur.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        cur.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
        created = cur.fetchone() is None
        if created:
            cur.execute(f'CREATE DATABASE "{name}"')
    conn.close()
    base = PG_ADMIN.rsplit("/", 1)[0]
    return f"{base}/{name}", created


def database_for(db, scale):
    VAR.mkdir(parents=True, exist_ok=True)
    sidecar = VAR / f"{db}-{scale}.json"
    if db == "sqlite":
        path = VAR / f"sqlite-{scale}.db"
        if not path.exists():
            sidecar.unlink(missing_ok=True)
        return f"sqlite:///{path}", sidecar
    url, created = pg_database(f"bench_{scale}")
    if created:
        sidecar.unlink(missing_ok=True)
    return url, sidecar


def seed(url, scale, sidecar):
    """Seed in a child process so this one holds no connection or app state."""
    code = ("import json,sys; from pathlib import Path; from bench.seed import seed_campaigns;"
            "print(json.dumps(seed_campaigns(sys.argv[1], int(sys.argv[2]), Path(sys.argv[3]))))")
    out = subprocess.run([sys.executable, "-c", code, url, str(scale), str(sidecar)],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


# ---- the API against the ceiling ------------------------------------------------------

def measure(url, *, key=None, args, duration=None):
    """One wrk run after a second of warm-up (caches, prepared statements, connections)."""
    wrk(url, key=key, connections=args.connections, duration=1)
    return wrk(url, key=key, connections=args.connections,
               duration=duration or args.duration)


def _ms_text(ms):
    return "  none finished" if ms is None else f"{ms:6.2f} ms"


def _median_row(samples):
    """The median of each figure over the rounds (each figure on its own; a latency is
    None when no request of a round finished)."""
    row = {}
    for field in ("rps", "p50_ms", "p99_ms", "ratio"):
        values = [sample[field] for sample in samples if sample[field] is not None]
        row[field] = statistics.median(values) if values else None
    row["non_2xx"] = sum(sample["non_2xx"] for sample in samples)
    row["requests"] = sum(sample["requests"] for sample in samples)
    row["ratios"] = [sample["ratio"] for sample in samples]
    return row


def bench_api(db, scale, args):
    """The API and the bare ceiling, both served at once and loaded in turn.

    Every measurement follows a second of warm-up, and the run goes round ``--rounds``
    times (ceiling, then the API) so that a disturbance of the shared machine weighs on
    one round, not on one endpoint: each ratio is taken against its own round's ceiling
    and the report gives medians.
    """
    url, sidecar = database_for(db, scale)
    info = seed(url, scale, sidecar)
    key, workspace, campaign = info["key"], info["workspace"], info["campaign"]
    env = {"DATABASE_URL": url, "RATE_LIMIT": "100000000/minute", "LOG_LEVEL": "INFO",
           "SECRET_KEY": "bench"}
    paths = {
        "list": f"/api/v1/tenant/campaigns?workspace={workspace}&limit=20",
        "detail": f"/api/v1/tenant/campaigns/{campaign}",
        "list_deep_offset": f"/api/v1/tenant/campaigns?workspace={workspace}"
                            f"&offset={max(0, scale // 2 - 40)}",
    }
    ceiling_of = {"list": "list", "detail": "detail", "list_deep_cursor": "list",
                  "list_deep_offset": "list"}
    samples = {}
    with tempfile.TemporaryDirectory() as tmp, \
            gunicorn("wsgi:app", env, args.workers) as (api_proc, api_url):
        auth = {"Authorization": f"Bearer {key}"}
        # The same depth by cursor: the id just before the deep offset page.
        deep = json.loads(wait_http(api_url + paths["list_deep_offset"] + "&limit=1", auth,
                                    timeout=120))["data"]
        if deep:
            paths["list_deep_cursor"] = (f"/api/v1/tenant/campaigns?workspace={workspace}"
                                         f"&limit=20&starting_after={deep[0]['id']}")
        for name in ("list", "detail"):
            Path(tmp, f"{name}.json").write_bytes(wait_http(api_url + paths[name], auth))
        # The same gunicorn.conf.py, which refuses to start without a real SECRET_KEY.
        bare_env = {"BENCH_LIST_BODY": str(Path(tmp, "list.json")),
                    "BENCH_DETAIL_BODY": str(Path(tmp, "detail.json")), "SECRET_KEY": "bench"}
        with gunicorn("bench.bare:app", bare_env, args.workers) as (_bare_proc, bare_url):
            wait_http(bare_url + paths["list"])
            peak_rss = 0.0
            ceilings = {}
            # The deep offset page goes last, once: at 1M its slow queries outlive the
            # load and would weigh on whatever is measured after it.
            rounds = [[n for n in paths if n != "list_deep_offset"]] * args.rounds
            rounds[-1] = rounds[-1] + ["list_deep_offset"]
            for number, names in enumerate(rounds, 1):
                for name in ("list", "detail"):
                    # The very same request as the API gets, key included.
                    ceilings[name] = measure(bare_url + paths[name], key=key, args=args)
                    samples.setdefault(f"bare_{name}", []).append(
                        {**ceilings[name], "ratio": 1.0})
                for name in names:
                    path = paths[name]
                    duration = None
                    if name == "list_deep_offset":
                        # Seconds per request at 1M: a longer run lets some finish.
                        path, duration = path + "&limit=20", 3 * args.duration
                    result = measure(api_url + path, key=key, args=args, duration=duration)
                    if not result["requests"]:
                        # None finished: wrk's latencies are then meaningless.
                        result["p50_ms"] = result["p99_ms"] = None
                    peak_rss = max(peak_rss, worker_rss_mb(api_proc.pid) or 0)
                    ratio = round(result["rps"] / ceilings[ceiling_of[name]]["rps"], 3)
                    samples.setdefault(name, []).append({**result, "ratio": ratio})
                    print(f"  {db:8} {scale:>8} round {number} {name:18} "
                          f"{result['rps']:8.0f} req/s  p50 {_ms_text(result['p50_ms'])}  "
                          f"p99 {_ms_text(result['p99_ms'])}  ratio {ratio:.2f}  "
                          f"non-2xx {result['non_2xx']}", flush=True)
    rows = [{"db": db, "scale": scale, "endpoint": name, **_median_row(runs),
             "rounds": len(runs), "worker_rss_mb": peak_rss}
            for name, runs in samples.items()]
    for row in rows:
        print(f"  {db:8} {scale:>8} median  {row['endpoint']:18} {row['rps']:8.0f} req/s  "
              f"p99 {_ms_text(row['p99_ms'])}  ratio {row['ratio']:.2f}", flush=True)
    return rows


# ---- the dispatcher --------------------------------------------------------------------

def bench_dispatcher(args):
    """Mails/s of 1 and 2 dispatchers on Postgres into the sink, measured after a warm-up
    (start-up and the first claims left out); then duplicates and daily limits checked.

    One campaign of ten has a daily limit it reaches during the run; the others have
    one far above what the run sends. CPU figures: the dispatchers' own CPU per mail,
    and how busy the whole machine was (sink and Postgres included).
    """
    results = {}
    for workers in (1, 2):
        url, _ = pg_database("bench_dispatch", fresh=True)
        limit = args.leads // 10 // 3
        code = ("import sys; from bench.seed import seed_leads;"
                "seed_leads(sys.argv[1], int(sys.argv[2]), limited=int(sys.argv[3]))")
        subprocess.run([sys.executable, "-c", code, url, str(args.leads), str(limit)],
                       cwd=ROOT, check=True)
        port = free_port()
        with tempfile.TemporaryDirectory() as tmp:
            count_file = Path(tmp, "count")
            sink = subprocess.Popen([sys.executable, "-m", "bench.sink", "--port", str(port),
                                     "--count-file", str(count_file)], cwd=ROOT)
            time.sleep(1.0)
            env = {**os.environ, "DATABASE_URL": url, "MAIL_BACKEND": "smtp",
                   "SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SECRET_KEY": "bench",
                   "LOG_LEVEL": "WARNING", "DISPATCH_BATCH": "200"}
            procs = [subprocess.Popen([str(VENV_BIN / "flask"), "--app", "wsgi", "dispatcher",
                                       "run", "--interval", "0.2"], cwd=ROOT, env=env,
                                      stderr=subprocess.DEVNULL)
                     for _ in range(workers)]
            time.sleep(WARM_UP)
            before = _snapshot(url, procs, sink)
            time.sleep(args.dispatch_seconds)
            after = _snapshot(url, procs, sink)
            for proc in procs:
                proc.send_signal(signal.SIGTERM)
            for proc in procs:
                try:
                    proc.wait(timeout=30)
                except subprocess.TimeoutExpired:
                    proc.kill()
            sink.send_signal(signal.SIGTERM)
            sink.wait(timeout=10)
            received = int(count_file.read_text())
        sent, duplicates, over_limit = _dispatch_counts(url)
        mails = after["sent"] - before["sent"]
        seconds = after["at"] - before["at"]
        results[f"workers_{workers}"] = {
            "sent": sent, "received_by_sink": received, "duplicates": duplicates,
            "days_over_limit": over_limit, "seconds": round(seconds, 1),
            "mails_per_second": round(mails / seconds, 1),
            "dispatcher_cpu_ms_per_mail": round(
                1000 * (after["cpu"] - before["cpu"]) / max(mails, 1), 3),
            "machine_busy": round((after["busy"] - before["busy"])
                                  / max(after["total"] - before["total"], 1), 2),
            # Work of other processes (not the dispatchers, the sink or Postgres) while
            # it ran, in cores: above ~0.1 the figures above are disturbed.
            "others_cores": round((after["others"] - before["others"]) / seconds, 2)}
        print(f"  dispatcher x{workers}: {results[f'workers_{workers}']}", flush=True)
    one = results["workers_1"]["mails_per_second"]
    two = results["workers_2"]["mails_per_second"]
    results["scaling"] = round(two / one, 2) if one else None
    return results


WARM_UP = 3.0
# The earlier campaign's mails (bench.seed's history) are not the run's.
SENT_IN_RUN = ("SELECT count(*) FROM message WHERE status = 'sent' AND campaign_id NOT IN "
               "(SELECT id FROM campaign WHERE name = 'Earlier campaign')")


def _cpu_seconds(pid):
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def _postgres_pids():
    pids = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == "postgres":
                pids.append(entry.name)
    return pids


def _snapshot(url, procs, sink):
    """Sent rows, CPU seconds (the dispatchers'; everyone else's but the sink's and
    Postgres's) and the machine's busy and total jiffies, now."""
    import psycopg
    conn = psycopg.connect(url)
    with conn.cursor() as cur:
        cur.execute(SENT_IN_RUN)
        sent = cur.fetchone()[0]
    conn.close()
    ticks = os.sysconf("SC_CLK_TCK")
    cpu = sum(_cpu_seconds(proc.pid) for proc in procs)
    ours = cpu + _cpu_seconds(sink.pid) + sum(_cpu_seconds(pid) for pid in _postgres_pids())
    jiffies = [int(n) for n in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    busy = sum(jiffies) - jiffies[3] - jiffies[4]  # all but idle and iowait
    return {"sent": sent, "at": time.monotonic(), "cpu": cpu, "others": busy / ticks - ours,
            "busy": busy, "total": sum(jiffies)}


def _dispatch_counts(url):
    """Sent rows, (lead, step) pairs with more than one row, and campaign days over
    their daily limit (counting what the limit counts)."""
    import psycopg
    conn = psycopg.connect(url)
    with conn.cursor() as cur:
        cur.execute(SENT_IN_RUN)
        sent = cur.fetchone()[0]
        cur.execute("SELECT count(*) FROM (SELECT lead_id, step FROM message "
                    "GROUP BY lead_id, step HAVING count(*) > 1) d")
        duplicates = cur.fetchone()[0]
        # Every message row counts against its campaign's local day.
        cur.execute("SELECT count(*) FROM (SELECT campaign_id, local_day, count(*) AS n "
                    "FROM message GROUP BY campaign_id, local_day) d "
                    "JOIN campaign c ON c.id = d.campaign_id "
                    "WHERE d.n > (c.settings::json->>'daily_limit')::bigint")
        over_limit = cur.fetchone()[0]
    conn.close()
    return sent, duplicates, over_limit


# ---- report ----------------------------------------------------------------------------

def chart(rows, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    labels = [f"{r['db']}\n{r['scale']:,}\n{r['endpoint']}" for r in rows]
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(max(8, len(rows) * 0.9), 8))
    colors = ["#9e9e9e" if r["endpoint"].startswith("bare") else "#1f77b4" for r in rows]
    top.bar(range(len(rows)), [r["rps"] for r in rows], color=colors)
    top.set_ylabel("requests/s (grey: bare Flask ceiling)")
    for i, r in enumerate(rows):
        top.annotate(f"{r['ratio']:.0%}", (i, r["rps"]), ha="center", va="bottom", fontsize=7)
    bottom.bar(range(len(rows)), [r["p99_ms"] or 0 for r in rows], color=colors)
    for i, r in enumerate(rows):
        if r["p99_ms"] is None:
            bottom.annotate("none\nfinished", (i, 1), ha="center", fontsize=6)
    bottom.set_ylabel("p99 latency (ms, log scale)")
    bottom.set_yscale("log")
    bottom.axhline(25, color="red", linewidth=0.8, linestyle="--")
    for axis in (top, bottom):
        axis.set_xticks(range(len(rows)))
        axis.set_xticklabels(labels, fontsize=6)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--db", default="sqlite,postgres")
    parser.add_argument("--scales", default="10000,100000")
    parser.add_argument("--duration", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--leads", type=int, default=200000)
    parser.add_argument("--dispatch-seconds", type=int, default=20)
    parser.add_argument("--skip-dispatcher", action="store_true")
    parser.add_argument("--skip-api", action="store_true",
                        help="measure the dispatcher only; API rows already in "
                             "latest.json are kept")
    parser.add_argument("--skip-idle", action="store_true",
                        help="leave out the idle-scheduler scenario (bench.idle)")
    idle.add_arguments(parser)
    args = parser.parse_args()

    report = {"when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
              "machine": {"cpus": os.cpu_count(), "python": platform.python_version(),
                          "platform": platform.platform()},
              "settings": vars(args), "api": [], "dispatcher": None}
    if not args.skip_api:
        for db in args.db.split(","):
            for scale in (int(s) for s in args.scales.split(",")):
                print(f"== {db} at {scale:,} campaigns", flush=True)
                report["api"].extend(bench_api(db, scale, args))
    if not args.skip_dispatcher and (args.skip_api or "postgres" in args.db):
        print("== dispatcher on postgres", flush=True)
        report["dispatcher"] = bench_dispatcher(args)
    if not args.skip_idle:
        print("== the idle scheduler", flush=True)
        report["idle"] = run_idle(args)
    RESULTS.mkdir(parents=True, exist_ok=True)
    latest = RESULTS / "latest.json"
    if args.skip_api:
        report = merge_dispatcher(latest, report)
    latest.write_text(json.dumps(report, indent=2))
    if not args.skip_api:
        chart(report["api"], ROOT / "docs" / "bench.png")
    print(f"results: {latest}" + ("" if args.skip_api else "; chart: docs/bench.png"))


def run_idle(args):
    """bench.idle in a child process (this one holds no connection or app state)."""
    subprocess.run([sys.executable, "-m", "bench.idle", "--db", args.db,
                    *idle.argv(args)], cwd=ROOT, check=True)
    return json.loads((RESULTS / "idle.json").read_text())


def merge_dispatcher(latest, report):
    """The previous report with this run's dispatcher figures: its API rows stay."""
    try:
        previous = json.loads(latest.read_text())
    except (OSError, ValueError):
        return report
    previous["dispatcher"] = report["dispatcher"]
    previous["dispatcher_run"] = {"when": report["when"], "settings": report["settings"]}
    return previous


if __name__ == "__main__":
    main()
