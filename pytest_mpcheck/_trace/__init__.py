"""The access trace: what instrumented shared objects record, and what happens at each access.

* ``codec``: the fixed-size record of one access and the event it decodes to;
* ``ring``: the ring buffer of records in shared memory, one per object;
* ``locks``: per-process bookkeeping of the known locks held and the user's own;
* ``waits``: the table through which a stress member's blocking acquires see
  deadlocks, and the order edges it books for the lock-order graph;
* ``policy``: the decision taken at each access point (seeded noise today),
  behind one interface, configured per process or round.

Standard library only, and nothing else of the package: a stress member
imports this and the objects it was handed, not the checks or the report.
"""
