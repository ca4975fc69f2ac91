"""The only socket code: asyncio listeners that pump bytes through the sans-IO sessions, and the live lab.

Who owns what: server.py (the listeners), threaded.py (an event loop in a background thread), certs.py
(a self-signed certificate per DC), live.py (``dcemu lab up``: every DC of a lab serving, the clock
following real time, ``run/live.json``).
"""
