"""Benchmarks of what users feel, run against the bundled simulator on loopback.

`python -m bench` runs them all; see bench/README.md. Not part of the test suite.
"""
