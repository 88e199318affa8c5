"""Benchmarks for gwinspect (run as scripts, not collected by pytest)."""
