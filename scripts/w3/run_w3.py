"""W3 (../shared/BENCHMARKS.md) end to end over a corpus built by scripts/w3/build_corpus.sh:
each query as a whole `contrail-cli query blocks` process (wall, user+sys CPU and peak RSS of
the process from wait4), Q1-Q6 also against DuckDB SQL in-process over the same files
(scripts/w3/duckdb_w3.py), alternating Contrail and DuckDB runs so both see the same machine
load, and a check that both return the same 20 trace IDs in the same order.

Prints one JSON line per query. Spans/s = spans in the corpus / median wall seconds; per core =
spans / median CPU seconds.

Usage: python3 scripts/w3/run_w3.py DATA_DIR [--runs 5] [--query Q3] [--cli PATH]
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

QUERIES = {
    "Q1": '{ span.http.status_code = 418 }',
    "Q2": '{ span.http.status_code >= 500 }',
    # Q2 on the key the load generator's corpus uses (it has no `http.status_code`)
    "Q2b": '{ span.http.response.status_code >= 500 }',
    "Q3": '{ resource.service.name = "payment-service" }',
    "Q4": '{ duration > 500ms && kind = server }',
    "Q5": '{ status = error }',
    "Q6": '{ span.http.route =~ "/api/v1/users/.*" }',
    "Q7": '{ resource.service.name = "api-gateway" } >> '
    '{ span.db.system = "postgresql" && duration > 100ms }',
    "Q8": '{ resource.service.name = "cart-service" } | count() > 5',
}
WITH_DUCKDB = {"Q1", "Q2", "Q2b", "Q3", "Q4", "Q5", "Q6"}


def timed(argv):
    """Runs argv with wait4; returns (stdout, wall s, cpu s, peak RSS MiB)."""
    read_end, write_end = os.pipe()
    started = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        os.close(read_end)
        os.dup2(write_end, 1)
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, 2)
        os.execv(argv[0], argv)
    os.close(write_end)
    chunks = []
    with os.fdopen(read_end, "rb") as output:
        for chunk in iter(lambda: output.read(1 << 16), b""):
            chunks.append(chunk)
    _, status, usage = os.wait4(pid, 0)
    wall = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{argv} failed with status {status}")
    cpu = usage.ru_utime + usage.ru_stime
    return b"".join(chunks), wall, cpu, usage.ru_maxrss / 1024


def corpus_spans(cli, data_dir):
    listing = subprocess.run(
        [cli, "block", "list", data_dir], check=True, capture_output=True, text=True
    ).stdout
    return sum(int(line.split("\t")[4]) for line in listing.splitlines()[1:] if line.strip())


def trace_ids(answer):
    """The trace IDs of a search answer, in order, without leading zeros (as DuckDB prints)."""
    return [t["traceID"].lstrip("0") for t in answer.get("traces", [])]


def duckdb_argv(data_dir, name):
    script = os.path.join(os.path.dirname(os.path.abspath(__file__)), "duckdb_w3.py")
    return [sys.executable, script, data_dir, "--runs", "1", "--query", name]


def run_duckdb(argv):
    """One DuckDB process (one warm-up and one counted run in it): (in-process s, trace IDs)."""
    line = subprocess.run(argv, check=True, capture_output=True, text=True)
    result = json.loads(line.stdout.splitlines()[-1])
    return result["median_s"], result["traces"]


def add_duckdb(row, wall, duck_seconds, same_traces):
    duck = statistics.median(duck_seconds)
    row["duckdb_s"] = round(duck, 4)
    row["contrail_over_duckdb"] = round(wall / duck, 3)
    row["same_traces"] = same_traces


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", action="append")
    parser.add_argument("--cli", default="target/release/contrail-cli")
    args = parser.parse_args()
    cli = os.path.abspath(args.cli)
    spans = corpus_spans(cli, args.data_dir)
    for name in args.query or list(QUERIES):
        argv = [cli, "query", "blocks", args.data_dir, QUERIES[name]]
        duck_argv = duckdb_argv(args.data_dir, name)
        timed(argv)  # warm-up
        walls, cpus, peaks, duck_seconds = [], [], [], []
        traces, duck_traces = None, None
        for _ in range(args.runs):
            stdout, wall, cpu, peak = timed(argv)
            walls.append(wall)
            cpus.append(cpu)
            peaks.append(peak)
            traces = trace_ids(json.loads(stdout))
            if name in WITH_DUCKDB:
                seconds, duck_traces = run_duckdb(duck_argv)
                duck_seconds.append(seconds)
        wall, cpu = statistics.median(walls), statistics.median(cpus)
        row = {
            "query": name,
            "spans": spans,
            "wall_s": round(wall, 4),
            "cpu_s": round(cpu, 4),
            "spans_per_s": round(spans / wall),
            "spans_per_cpu_s": round(spans / cpu),
            "peak_rss_mib": round(max(peaks), 1),
            "traces": len(traces),
        }
        if name in WITH_DUCKDB:
            add_duckdb(row, wall, duck_seconds, traces == duck_traces)
        print(json.dumps(row), flush=True)


if __name__ == "__main__":
    main()
