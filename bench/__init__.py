"""Benchmarks: the whole pipeline beside the raw PostgreSQL and RabbitMQ ceilings, measured
in the same run (design.md §12). Run with `sedulur bench [--quick]`; results go to
docs/benchmarks.md and bench/results/<date>-<commit>.json."""
