"""Labs: Hyper-V hosts running DC guests, one replication network, one clock and one seed; scenarios.

Who owns what: lab.py (``Lab``: building, opening and saving a lab; the guests' environment),
topology.py / tomlfile.py (topology files), acts.py and inspect.py (the scenario API: acts on a lab and
plain read functions), scenario.py / steps.py / expect.py / clone_steps.py (scenario files, their actions
and checks), trace.py / observe.py / narrate.py (recording a step as dcemu.scenario-result/1),
control.py (the operations the CLI calls).  Issue 20 points 5 and 6 (one lab-building module, one
recorder) are still to come.
"""
