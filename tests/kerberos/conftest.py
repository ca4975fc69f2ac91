"""A live lab for the Kerberos tool tests: DC01-DC03 on their own loopback addresses with the well-known ports
(88, 389, 464, 636), since impacket's scripts only talk to 88 and 389.  Built once per module; needs the right
to bind low ports (root), else the tests skip (and fail under CI=true)."""

from __future__ import annotations

import os
import socket
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from dcemu.dsa import ops, sam
from dcemu.lab.scenario import prepare_lab
from dcemu.lab.topology import default_topology
from dcemu.runtime.live import LiveLabThread, LiveOptions

REALM = "CORP.EXAMPLE.COM"
DOMAIN = "corp.example.com"
USER_PASSWORD = "Kerb3ros-Passw0rd!"
NP_PASSWORD = "N0-Preauth-Passw0rd!"
SQL_PASSWORD = "Sql-Service-Passw0rd1"
SVC_PASSWORD = "Svc-Computer-Passw0rd1"
PORTS = (88, 389, 464, 636)


def _free(address: str, port: int) -> bool:
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as s:
            try:
                s.bind((address, port))
            except OSError:
                return False
    return True


def free_well_known_base(count: int) -> str | None:
    """The first 127.88.N.11 whose next ``count`` addresses have 88/389/464/636 free (other labs use others)."""
    for n in range(1, 250):
        addresses = [f"127.88.{n}.{11 + i}" for i in range(count)]
        if all(_free(a, p) for a in addresses for p in PORTS):
            return addresses[0]
    return None


def need_tool(path: str | None, name: str) -> str:
    if path:
        return path
    if os.environ.get("CI"):
        pytest.fail(f"{name} is not installed (tools/system-packages.txt / the impacket package)")
    pytest.skip(f"{name} is not installed")


@dataclass
class KerberosLab:
    thread: LiveLabThread
    address: str
    dc_addresses: dict[str, str]
    directory: Path

    def dc(self, name: str = "DC01"):  # noqa: ANN201 - dcemu.dc.DomainController
        return self.thread.live.lab.guests[name].dc

    def run(self, fn):  # noqa: ANN001, ANN201 - on the lab's loop thread
        return self.thread.call(fn)


def _accounts(lab: KerberosLab) -> None:
    dc = lab.dc()
    d, base = dc.directory, dc.domain_dn
    dc.add_user("kuser", USER_PASSWORD)
    dc.add_user("npuser", NP_PASSWORD)
    dc.add_user("sqlsvc", SQL_PASSWORD)
    ops.modify(d, f"CN=kuser,CN=Users,{base}", [ops.Change("replace", "userAccountControl", ("512",))], system=True)
    ops.modify(d, f"CN=npuser,CN=Users,{base}",
               [ops.Change("replace", "userAccountControl", (str(512 | 0x400000),))], system=True)
    ops.modify(d, f"CN=sqlsvc,CN=Users,{base}", [
        ops.Change("replace", "userAccountControl", ("512",)),
        ops.Change("replace", "servicePrincipalName", ("MSSQLSvc/sql01.corp.example.com:1433",))], system=True)
    ops.add(d, f"CN=SVC01,CN=Computers,{base}", {
        "objectClass": ["computer"], "sAMAccountName": ["SVC01$"], "userAccountControl": ["4096"],
        "dNSHostName": ["svc01.corp.example.com"], "servicePrincipalName": ["HOST/svc01.corp.example.com"],
        "unicodePwd": [sam.quoted_password(SVC_PASSWORD)]}, system=True)
    lab.thread.live.lab.repl.converge()


@pytest.fixture(scope="module")
def kerberos_lab(tmp_path_factory: pytest.TempPathFactory, dcemu_lab_cache: Path) -> Iterator[KerberosLab]:
    topo = default_topology()
    address = free_well_known_base(len(topo.dcs))
    if address is None:
        if os.environ.get("CI"):
            pytest.fail("cannot bind 88/389/464/636 on loopback (the Kerberos tool tests need root)")
        pytest.skip("cannot bind 88/389/464/636 on loopback (needs root)")
    target = tmp_path_factory.mktemp("kerberos-lab") / "lab"
    prepare_lab(topo, target, cache_dir=dcemu_lab_cache)
    thread = LiveLabThread(target, LiveOptions(address_base=address, port_base=0, tick_interval=None, tls=True))
    try:
        status = thread.call(thread.live.status)
        lab = KerberosLab(thread, address, {d["name"]: d["address"] for d in status["dcs"]}, target)
        lab.run(lambda: _accounts(lab))
        yield lab
    finally:
        thread.close()
