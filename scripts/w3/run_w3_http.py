"""W3 (../shared/BENCHMARKS.md) through the HTTP API: the queries of run_w3.py sent as
`GET /api/search` (and M1, M2 as `GET /api/metrics/query_range`, step 1 m, over the whole
corpus) to a running `contrail -target=querier` whose backend is the corpus built by
scripts/w3/build_corpus.sh, each alternated with DuckDB SQL in-process over the same files
(scripts/w3/duckdb_w3.py, warm, 2 threads), and a check that both return the same 20 trace IDs
in the same order.

The querier is started by this script on loopback (API port 3200 by default) with the corpus as
its local backend and a ring address where no ingester listens (the corpus is months old, so no
search reaches the ingesters). It is a querier only: no compactor runs, nothing in the corpus is
rewritten or deleted. Figures per query: the client's wall time per request (median), the
server's CPU seconds per request (from /proc/PID/stat, median), and the server's peak RSS
(VmHWM) over the whole run. Spans/s = spans in the corpus / median wall seconds; per core =
spans / median server CPU seconds.

Usage: python3 scripts/w3/run_w3_http.py DATA_DIR [--runs 5] [--query Q3]
       [--contrail target/release/contrail] [--cli target/release/contrail-cli] [--port 3200]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

from run_w3 import QUERIES, WITH_DUCKDB, corpus_spans

TICKS = os.sysconf("SC_CLK_TCK")


def server_cpu_s(pid):
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def server_peak_rss_mib(pid):
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def get_json(url, timeout=120):
    with urllib.request.urlopen(url, timeout=timeout) as response:
        return json.loads(response.read())


def config_yaml(data_dir, work, port):
    return f"""target: querier
server:
  http_listen_port: {port}
  grpc_listen_port: {port + 1}
  log_level: warn
distributor:
  ring:
    addresses: [127.0.0.1:9]
storage:
  trace:
    backend: local
    local:
      path: {os.path.abspath(data_dir)}
    wal:
      path: {work}/wal
"""


def start_querier(contrail, data_dir, port, work):
    config = os.path.join(work, "querier.yaml")
    with open(config, "w") as out:
        out.write(config_yaml(data_dir, work, port))
    log = open(os.path.join(work, "querier.log"), "w")
    server = subprocess.Popen(
        [contrail, f"-config.file={config}"], cwd=work, stdout=log, stderr=log
    )
    deadline = time.time() + 60
    while time.time() < deadline:
        if server.poll() is not None:
            sys.exit(f"the querier exited with {server.returncode}; see {work}/querier.log")
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/ready", timeout=2) as answer:
                if answer.status == 200:
                    return server
        except OSError:
            pass
        time.sleep(0.2)
    server.kill()
    sys.exit(f"the querier was not ready within 60 s; see {work}/querier.log")


# build_corpus.sh's simulated time starts at 2026-11-01T00:00:00Z and covers about 1.5 h; the
# window asked for covers all of it (the CLI searches all time; the API's search range is capped
# at query_frontend.search.max_duration, 168 h by default).
CORPUS_START = 1793491200
WINDOW = (CORPUS_START - 60, CORPUS_START + 2 * 3600)

METRICS = {
    "M1": "{ } | rate() by (resource.service.name)",
    "M2": "{ kind = server } | quantile_over_time(duration, .5, .99) by (resource.service.name)",
}


def search_url(port, query):
    params = {"q": query, "start": str(WINDOW[0]), "end": str(WINDOW[1]), "limit": "20"}
    return f"http://127.0.0.1:{port}/api/search?" + urllib.parse.urlencode(params)


def metrics_url(port, query):
    params = {"q": query, "start": str(WINDOW[0]), "end": str(WINDOW[1]), "step": "60s"}
    return f"http://127.0.0.1:{port}/api/metrics/query_range?" + urllib.parse.urlencode(params)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", action="append", help="Q1..Q8 or M1, M2 (default: all)")
    parser.add_argument("--contrail", default="target/release/contrail")
    parser.add_argument("--cli", default="target/release/contrail-cli")
    parser.add_argument("--port", type=int, default=3200)
    args = parser.parse_args()
    duckdb_script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "duckdb_w3.py")
    spans = corpus_spans(os.path.abspath(args.cli), args.data_dir)
    with tempfile.TemporaryDirectory(prefix="contrail-w3-http-") as work:
        server = start_querier(os.path.abspath(args.contrail), args.data_dir, args.port, work)
        try:
            # The first answer waits for the blocklist; it is not counted.
            deadline = time.time() + 60
            while True:
                answer = get_json(search_url(args.port, QUERIES["Q3"]))
                if answer.get("traces") or time.time() > deadline:
                    break
                time.sleep(0.5)
            for name in args.query or list(QUERIES) + list(METRICS):
                if name in METRICS:
                    url = metrics_url(args.port, METRICS[name])
                else:
                    url = search_url(args.port, QUERIES[name])
                get_json(url)  # warm-up
                walls, cpus, duck_seconds = [], [], []
                traces, duck_traces, metrics = None, None, {}
                for _ in range(args.runs):
                    cpu_before = server_cpu_s(server.pid)
                    started = time.perf_counter()
                    answer = get_json(url)
                    walls.append(time.perf_counter() - started)
                    cpus.append(server_cpu_s(server.pid) - cpu_before)
                    traces = [t["traceID"].lstrip("0") for t in answer.get("traces", [])]
                    metrics = answer.get("metrics", {})
                    series = answer.get("series")
                    if name in WITH_DUCKDB:
                        duck_argv = [sys.executable, duckdb_script, args.data_dir,
                                     "--runs", "1", "--query", name]
                        line = subprocess.run(duck_argv, check=True, capture_output=True,
                                              text=True)
                        result = json.loads(line.stdout.splitlines()[-1])
                        duck_seconds.append(result["median_s"])
                        duck_traces = result["traces"]
                wall, cpu = statistics.median(walls), statistics.median(cpus)
                row = {
                    "query": name,
                    "spans": spans,
                    "wall_s": round(wall, 4),
                    "server_cpu_s": round(cpu, 4),
                    "spans_per_s": round(spans / wall),
                    "spans_per_cpu_s": round(spans / cpu) if cpu > 0 else None,
                    "traces": len(traces),
                    "series": None if series is None else len(series),
                    "inspected_spans": metrics.get("inspectedSpans"),
                    "completed_jobs": metrics.get("completedJobs"),
                    "server_peak_rss_mib": round(server_peak_rss_mib(server.pid), 1),
                }
                if name in WITH_DUCKDB:
                    duck = statistics.median(duck_seconds)
                    row["duckdb_s"] = round(duck, 4)
                    row["contrail_over_duckdb"] = round(wall / duck, 3)
                    row["same_traces"] = traces == duck_traces
                print(json.dumps(row), flush=True)
        finally:
            server.terminate()
            server.wait(timeout=30)


if __name__ == "__main__":
    main()
