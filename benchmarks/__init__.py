"""Benchmarks: each runs riverbot and a baseline side by side in one process and prints their ratio."""
