"""BULL on DuckDB: import the benchmark's schemas and questions, and generate test-suite instances."""
