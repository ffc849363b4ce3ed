"""Daskyard's benchmarks: `make bench` runs them all and writes docs/BENCHMARKS.md.
Every figure is measured in the run that prints it, next to a baseline measured in the
same run; nothing here asserts a time."""
