"""Probes gather facts (side effects live here); rules only read what probes return."""
