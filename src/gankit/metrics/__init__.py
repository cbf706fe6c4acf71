"""Metrics: closed-form Gaussian diagnostics (and, beside them, sample tests)."""
