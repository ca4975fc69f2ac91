"""Fixtures for the NTLM/SPNEGO tests: a DC's names, a small account table, server factories.

Passwords are real: each account's NT hash is impacket's ``compute_nthash`` of its password,
so the real client libraries (impacket, ldap3) compute their responses from the password
and the server verifies them from the stored hash.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Callable

import Cryptodome.Hash.MD4
import pytest
from impacket.ntlm import compute_nthash

from dcemu.auth import Account, DcNames, NtlmServer, SpnegoNtlmServer
from dcemu.clock import VirtualClock
from dcemu.entropy import Entropy

PASSWORD = "Passw0rd!2026"

NAMES = DcNames(netbios_domain="CORP", netbios_computer="DC01", dns_domain="corp.example.com",
                dns_computer="dc01.corp.example.com", dns_forest="example.com")

ACCOUNTS = {
    "alice": Account(compute_nthash(PASSWORD), dn="CN=alice,CN=Users,DC=corp,DC=example,DC=com"),
    "disabled": Account(compute_nthash(PASSWORD), dn="CN=disabled,CN=Users,DC=corp,DC=example,DC=com",
                        disabled=True),
    "mustchange": Account(compute_nthash(PASSWORD), must_change_password=True),
    "locked": Account(compute_nthash(PASSWORD), locked=True),
    "pwexpired": Account(compute_nthash(PASSWORD), password_expired=True),
    "acctexpired": Account(compute_nthash(PASSWORD), account_expired=True),
}


class Directory:
    """The lookup callback the LDAP layer will provide: case-insensitive user, any domain of ours."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str]] = []

    def __call__(self, domain: str, user: str) -> Account | None:
        self.calls.append((domain, user))
        if domain.lower() not in ("", "corp", "corp.example.com"):
            return None
        return ACCOUNTS.get(user.lower())


@pytest.fixture
def directory() -> Directory:
    return Directory()


@pytest.fixture
def clock() -> VirtualClock:
    return VirtualClock()


@pytest.fixture
def make_server(directory: Directory, clock: VirtualClock) -> Callable[[], NtlmServer]:
    """New NtlmServers drawing their challenges from one shared stream, as a DC would."""
    stream = Entropy(2026).fork("dc:DC01/ntlm")
    return lambda: NtlmServer(NAMES, entropy=stream, clock=clock, lookup=directory)


@pytest.fixture
def make_spnego(make_server: Callable[[], NtlmServer]) -> Callable[[], SpnegoNtlmServer]:
    return lambda: SpnegoNtlmServer(make_server())


@pytest.fixture
def password() -> str:
    return PASSWORD


@pytest.fixture
def names() -> DcNames:
    return NAMES


@pytest.fixture
def ldap3_md4(monkeypatch):
    """ldap3 hashes a password with hashlib's MD4, gone from OpenSSL 3, then falls back to
    ``Crypto.Hash.MD4`` (pycryptodome).  Only pycryptodomex (``Cryptodome``, the same code)
    is installed here, so expose it under the name ldap3 imports."""
    crypto, crypto_hash = types.ModuleType("Crypto"), types.ModuleType("Crypto.Hash")
    crypto_hash.MD4 = Cryptodome.Hash.MD4
    crypto.Hash = crypto_hash
    monkeypatch.setitem(sys.modules, "Crypto", crypto)
    monkeypatch.setitem(sys.modules, "Crypto.Hash", crypto_hash)
    monkeypatch.setitem(sys.modules, "Crypto.Hash.MD4", Cryptodome.Hash.MD4)
