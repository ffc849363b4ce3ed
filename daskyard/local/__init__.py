"""Embedded local mode: everything that differs from AWS lives in this package. It runs
the server side (app.py, chalicelib) from daskyard.local.server's ROOT."""
