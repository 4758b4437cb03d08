"""Auditing: complaint histories, point-in-time state, the tamper-evident hash chain."""
