"""dcemu: an Active Directory domain-controller emulator for cloning safety (see README.md).

The public API, by owning module (``__all__`` names them; importing ``dcemu`` itself loads nothing, so
the CLI and the pytest plugin start fast):

- ``dcemu.lab``: ``Lab`` (lab.py), the scenario API (acts.py, inspect.py), scenarios (scenario.py);
- ``dcemu.dc``: ``DomainController``; ``dcemu.dsa.ops``: the originating writes;
- ``dcemu.hyperv``: ``HyperVFabric``, ``HyperVHost`` and the VM-Generation ID table;
- ``dcemu.repl``: replication (``Fabric``, ``Replica``), repadmin views;
- ``dcemu.ldap``: the sans-IO LDAP layer (``decode_message``, ``encode``, ``ServerConnection``);
- ``dcemu.fsmo`` and ``dcemu.roles``: FSMO roles; ``dcemu.rid``: RID pools;
- ``dcemu.cloning``: DC cloning; ``dcemu.guest``: the Windows guest;
- ``dcemu.clock`` / ``dcemu.entropy``: the injected time and randomness; ``dcemu.errors``: ``DcemuError``.
"""

__all__ = [
    "cloning", "clock", "dc", "dsa", "entropy", "errors", "fsmo", "guest", "hyperv", "lab", "ldap", "repl", "rid",
    "roles",
]
