"""The benchmark harness (issue 8): the gateway measured against the floors of its own stack.

Run it with ``make bench`` or ``.venv/bin/python -m bench.run``; see README, section "Benchmark".
"""
