"""Benchmarks of mkdocs-attnviz (not tests): page weight, warm/cold builds, browser speed, scaling.

Run them all with ``python -m benchmarks.run`` (``--quick`` for a smaller run); the command prints a
table and writes ``benchmarks/RESULTS.md``. See README.md, section "Benchmarks".
"""
