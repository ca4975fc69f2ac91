"""Training views of a scenario run: narrated terminal demos, an HTML report, an SVG/PNG timeline.

``result`` (the dcemu.scenario-result/1 format as typed values), ``analysis`` and ``narrate``
(what to point at, in sentences generated from the data), ``timeline`` (SVG), ``report`` (HTML),
``export`` (PNG through headless Chromium), ``recorder``/``observe`` (recording a lab run),
``demos``/``demo`` (the demos and their rich rendering), ``synthetic`` (a result of any size).
"""
