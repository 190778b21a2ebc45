"""Engine: starting and supervising worker processes.  Knows nothing of pytest.

``pools`` runs the equivalence oracle's pools, ``crew`` the stress processes,
``supervise`` watches them all.  Import the module you need: a stress
process loads ``crew`` only, not the pool machinery.
"""
