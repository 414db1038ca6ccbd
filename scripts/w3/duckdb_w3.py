"""DuckDB baseline of W3 (../shared/BENCHMARKS.md): for Q1-Q6, the 20 most recent traces with a
matching span, in SQL over the same vc1 data.parquet files contrail-cli searches; in-process,
warm (one run first), two threads. Prints one JSON line per query: the median and every run's
seconds, and the 20 trace IDs (hex, leading zeros trimmed, as Tempo's API prints them).

Usage: python3 scripts/w3/duckdb_w3.py DATA_DIR [--tenant T] [--runs N] [--query Q3]
"""

import argparse
import glob
import json
import statistics
import sys
import time

import duckdb


def span_attr(column: str, key: str, dedicated: str, generic: str) -> str:
    """A span attribute test: its dedicated column, or a generic attribute with the key."""
    return (
        f"(({column} {dedicated}) OR "
        f"len(list_filter(attrs, lambda a: a.key = '{key}' AND ({generic}))) > 0)"
    )


PREDICATES = {
    "Q1": span_attr("http_status_code", "http.status_code", "= 418", "a.int = 418 OR a.double = 418"),
    "Q2": span_attr("http_status_code", "http.status_code", ">= 500", "a.int >= 500 OR a.double >= 500"),
    # Q2 names the old semantic-convention key, which the load generator's corpus does not use
    # (so Q2 matches nothing there); Q2b is the same test on the key the corpus has
    "Q2b": span_attr(
        "http_response_status_code",
        "http.response.status_code",
        ">= 500",
        "a.int >= 500 OR a.double >= 500",
    ),
    "Q3": "service_name = 'payment-service'",
    "Q4": "duration_nano > 500000000 AND kind = 2",
    "Q5": "status_code = 2",
    "Q6": span_attr(
        "http_route",
        "http.route",
        "IS NOT NULL AND regexp_full_match(http_route, '/api/v1/users/.*')",
        "regexp_full_match(a.str, '/api/v1/users/.*')",
    ),
}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("data_dir")
    parser.add_argument("--tenant", default="single-tenant")
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--query", action="append")
    args = parser.parse_args()
    files = sorted(glob.glob(f"{args.data_dir}/{args.tenant}/*/data.parquet"))
    if not files:
        sys.exit(f"no data.parquet under {args.data_dir}/{args.tenant}")
    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    for name in args.query or sorted(PREDICATES):
        sql = (
            "SELECT lower(hex(trace_id)) AS id, max(trace_start_unix_nano) AS start "
            f"FROM read_parquet(?) WHERE {PREDICATES[name]} "
            "GROUP BY trace_id ORDER BY start DESC, id LIMIT 20"
        )
        rows = connection.execute(sql, [files]).fetchall()  # warm-up
        seconds = []
        for _ in range(args.runs):
            started = time.perf_counter()
            rows = connection.execute(sql, [files]).fetchall()
            seconds.append(time.perf_counter() - started)
        print(
            json.dumps(
                {
                    "query": name,
                    "median_s": statistics.median(seconds),
                    "runs_s": seconds,
                    "traces": [trace_id.lstrip("0") for trace_id, _ in rows],
                }
            ),
            flush=True,
        )


if __name__ == "__main__":
    main()
