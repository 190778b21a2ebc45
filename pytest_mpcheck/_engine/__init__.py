"""Engine: starting and supervising worker processes.  Knows nothing of pytest.

``pools`` runs the equivalence oracle's pools, ``crew`` the stress processes,
``supervise`` watches them all from outside, ``worker`` is what runs inside
a worker.  Import the module you need: a stress member loads ``worker``
only, not the crew, the supervision or the pool machinery.
"""
