"""Benchmarks for agent-runtime, each printed beside a same-run baseline.

Absolute rates move with whatever else the machine is doing, so every
workload measures its own baseline in the same run and reports a ratio;
the targets of issue 5 are ratios. `python -m benchmarks` runs them all,
`--quick` runs tiny sizes so the test suite can keep them from rotting.
"""
