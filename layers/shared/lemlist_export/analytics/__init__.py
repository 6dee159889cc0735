"""The query-ready copy of each export: the stored CSV turned, row by row, into gzip-compressed
JSON Lines (one object per row, its cells as a header -> value map) beside it in S3, for
Athena and DuckDB. Derived only from the CSV, so it can always be rebuilt from it."""
