"""Prints the hex span IDs of the rows of vc1 data.parquet files that satisfy a SQL predicate.

Usage: python3 span_ids.py WHERE_CLAUSE FILE [FILE ...]

The outside check of storage/tests/search_duckdb.rs: DuckDB (PyPI `duckdb`) reads the same
Parquet files the vc1 span source reads, with its own Parquet reader and SQL semantics.
"""

import sys

try:
    import duckdb
except ImportError as error:  # the test reports this line and fails
    print(f"duckdb is not installed ({error}); scripts/test.sh installs it", file=sys.stderr)
    sys.exit(3)


def main() -> None:
    where, files = sys.argv[1], sys.argv[2:]
    connection = duckdb.connect()
    connection.execute("SET threads TO 2")
    rows = connection.execute(
        f"SELECT lower(hex(span_id)) FROM read_parquet(?) WHERE {where}", [files]
    ).fetchall()
    for (span_id,) in rows:
        print(span_id)


if __name__ == "__main__":
    main()
