"""Embedded local mode: everything that differs from AWS lives in this package."""
