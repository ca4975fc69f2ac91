"""Sweeps: thousands of random fault schedules over DC labs, checked against Microsoft's safety rules.

A *schedule* is a scenario (dcemu.lab.scenario's format and actions) generated from a seed
over one of a few lab templates (``generator``, ``templates``); the ``runner`` runs it on a copy
of the template lab and checks the ``invariants`` (each cited to its R-SAFE, R-GENID, R-RID,
R-CLONE, R-USN rule) with the run's ``history``; a violation is shrunk (``shrinker``) to a small
scenario file that ``dcemu scenario run`` replays; ``pool`` spreads seeds over local processes
or Ray, ``session`` ties a sweep together and ``report`` renders it as HTML.  ``strategies``
offers the generator as a hypothesis strategy.  This is FoundationDB's way of testing itself:
deterministic simulation, seeds, invariants after every run.
"""
