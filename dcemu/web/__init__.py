"""The classroom view: the lab's DCs, USNs, vectors and events in a browser, live or replayed.

``session`` (a live lab watched by the scenario runner's tracer), ``replay`` (a saved result),
``view`` (the page's model from step records), ``actions`` (the buttons), ``app`` (the routes);
the listener is dcemu.runtime.web.  See dcemu/docs/training.md, "A live view for the class".
"""
