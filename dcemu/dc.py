"""A domain controller: one DIT file plus the DC-level wiring of its DSA (RID pool, identity).

``DomainController`` is what the rest of dcemu (LDAP server, replication, the guest OS,
labs) holds on to.  It owns no policy of its own: directory rules live in dcemu.dsa, RID rules
in dcemu.rid, replication in dcemu.repl.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from .clock import Clock
from .dsa import ops, sam
from .dsa.directory import Directory
from .dsa.provision import DcIdentity, ForestSpec, dc_identity, provision_forest
from .dsa.schema import Schema
from .entropy import Entropy
from .rid import service as rid_service
from .rid.pool import RidRange
from .store.sqlite import SqliteStore

#: Where the DIT lives on a DC's system disk (the VM's disk directory), as on Windows.
DIT_RELATIVE_PATH = Path("Windows") / "NTDS" / "ntds.dit.sqlite"


class DomainController:
    """One DC's directory with its RID allocator wired in."""

    def __init__(self, directory: Directory) -> None:
        self.directory = directory
        #: How to reach the RID master when this DC does not hold the role (set by replication/labs).
        self.remote_rid_request: Callable[[DomainController], RidRange] | None = None
        #: Event sink (dcemu.guest's event log when running inside a VM).
        self.events: Callable[[int, str], None] = lambda event_id, text: None
        self._searcher = None
        self._identity: DcIdentity | None = None
        self._identity_key: tuple | None = None
        self._ntlm_entropy = None
        rid_service.attach(self)

    @property
    def ntlm_entropy(self):  # noqa: ANN201 - one Entropy stream for every NTLM challenge of this DC
        if self._ntlm_entropy is None:
            self._ntlm_entropy = self.directory.entropy.fork("ntlm")
        return self._ntlm_entropy

    @property
    def searcher(self):  # noqa: ANN201 - dcemu.dsa.search.Searcher, shared by all LDAP sessions
        """One Searcher per DC, so its memoised results serve every connection."""
        if self._searcher is None:
            from .dsa.search import Searcher
            self._searcher = Searcher(self.directory)
        return self._searcher

    # --- construction ----------------------------------------------------------------------
    @classmethod
    def open(cls, path: str | Path, clock: Clock, entropy: Entropy, schema: Schema | None = None) -> DomainController:
        return cls(Directory(SqliteStore(path), schema or Schema.load(), clock, entropy))

    @classmethod
    def provision(cls, path: str | Path, spec: ForestSpec, clock: Clock, entropy: Entropy) -> DomainController:
        """Create a new forest whose first DC keeps its DIT at ``path``."""
        dc = cls.open(path, clock, entropy)
        me = provision_forest(dc.directory, spec)
        dc.directory.store.set_state("ridSetDn", me.rid_set_dn)
        from .dsa.provision import finish_first_dc
        finish_first_dc(dc.directory)
        return dc

    # --- identity ---------------------------------------------------------------------------
    @property
    def name(self) -> str:
        return str(self.directory.store.state("dcName", ""))

    @property
    def identity(self) -> DcIdentity:
        """The DC's DNs and GUIDs, rebuilt only when the state they derive from changes."""
        d = self.directory
        st = d.store.state
        key = (self.name, st("site"), d.dsa_guid, d.invocation_id, st("defaultNamingContext"),
               st("configurationNamingContext"), st("dnsDomain"))
        if self._identity_key != key:
            self._identity = dc_identity(d, self.name, str(st("site")), dsa_guid=d.dsa_guid,
                                         invocation_id=d.invocation_id)
            self._identity_key = key
        return self._identity

    @property
    def domain_dn(self) -> str:
        return str(self.directory.store.state("defaultNamingContext"))

    def role_owner(self, role_object_dn: str) -> str:
        obj = self.directory.find(role_object_dn)
        return str(obj.first("fSMORoleOwner", "")) if obj is not None else ""

    @property
    def is_rid_master(self) -> bool:
        return rid_service.is_rid_master(self)

    # --- RID pools --------------------------------------------------------------------------
    def request_rid_pool(self) -> RidRange:
        """Get a new pool into this DC's RID Set: locally if RID master, else by EXOP (R-RID-20)."""
        return rid_service.request_pool(self)

    # --- conveniences for users and tests ---------------------------------------------------
    def add_user(self, name: str, password: str | None = None, *, parent: str | None = None,
                 enabled: bool = True, **attrs: object) -> str:
        """Create a user as an LDAP client would (originating add); returns its DN."""
        dn = f"CN={name},{parent or 'CN=Users,' + self.domain_dn}"
        values: dict[str, object] = {"objectClass": ["user"], "sAMAccountName": [name],
                                     "userPrincipalName": [f"{name}@{self.directory.store.state('dnsDomain')}"]}
        if password is not None:
            values["unicodePwd"] = [sam.quoted_password(password)]
            values["userAccountControl"] = [str(0x200 if enabled else 0x202)]
        values.update({k: v if isinstance(v, list) else [v] for k, v in attrs.items()})
        ops.add(self.directory, dn, values)  # type: ignore[arg-type]
        return dn

    def close(self) -> None:
        self.directory.store.close()
