"""The live guard: judges each canary from the live event stream and rolls it back by itself,
and walks progressive ramps (``docs/guard.md``).

- :mod:`.config`: its settings (``TASKBRIDGE["GUARD"]``) with defaults.
- :mod:`.lease`: one active guard at a time, by a Redis lease.
- :mod:`.window`: the recent events, read incrementally from the stream.
- :mod:`.judge`: one queue's live verdict, by ``compare``'s own verdict code.
- :mod:`.ramp`: start, pause, resume and advance a ramp plan.
- :mod:`.loop`: the guard's tick: judge, roll back, advance, publish its state.
- :mod:`.state`: the JSON-able view the cockpit and ``/metrics`` show.
"""
