"""Plain helpers and constants the tests import (no tests, no fixtures): paths, made-up tables and frames, runs."""
