"""Checks: the equivalence oracle, shared-state instrumentation and analysis, leak checks.

They know nothing of pytest; the engine runs the processes they need.
"""
