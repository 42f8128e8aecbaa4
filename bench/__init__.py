"""Tocsin benchmarks: `python -m bench` runs them all, `python -m bench declare|engine` one.

Benchmarks are not tests. They start the real server and the real engine against throwaway
SQLite and PostgreSQL databases, print a table and write JSON to `bench/results/`.
"""
