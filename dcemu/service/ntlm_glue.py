"""Wiring dcemu.auth's NTLM server into binds: account lookup, sicily and SASL steps.

The cryptography and the AD logon rules (sub-codes, their order) live in dcemu.auth; this
module only maps a client's (domain, user) to an account of this DC's directory and turns the
outcome into a bound principal and, when negotiated, the sealing layer.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..auth import Account, DcNames, NtlmError, NtlmSecurityLayer, NtlmServer, SpnegoNtlmServer

if TYPE_CHECKING:
    from .binds import BindHandler, Principal


def _names(dc: object) -> DcNames:
    st = dc.directory.store.state  # type: ignore[attr-defined]
    name = str(st("dcName"))
    dns = str(st("dnsDomain"))
    return DcNames(netbios_domain=str(st("netbiosName")), netbios_computer=name.upper(), dns_domain=dns,
                   dns_computer=f"{name}.{dns}".lower(), dns_forest=str(st("dnsForest", dns)))


def account_for(handler: BindHandler, domain: str, user: str) -> Account | None:
    """The account a client names, resolved as AD does (user, user@domain, DOMAIN as sent or empty).

    A domain name the DC neither hosts nor trusts (Samba's client sends its ``workgroup``, by
    default ``WORKGROUP``) is not a refusal: a Windows DC with no trust by that name processes the
    logon in its own domain (MS-NRPC 3.5.4.5.1: only a trusted domain's logon is passed through;
    Samba documents the same for its ``map untrusted to domain`` as "the behaviour of Windows").
    The NTLMv2 proof still binds the name the client sent (NTOWFv2 over user and domain).
    """
    if "@" in user:
        obj = handler.resolve_account(user)
    elif domain:
        obj = handler.resolve_account(f"{domain}\\{user}")
        if obj is None and not handler.hosts_domain(domain):
            obj = handler.resolve_account(user)
    else:
        obj = handler.resolve_account(user)
    if obj is None:
        return None
    return handler.auth_account(handler.check_account(obj))  # type: ignore[return-value]


def new_ntlm_server(handler: BindHandler, *, spnego: bool) -> NtlmServer | SpnegoNtlmServer:
    dc = handler.session.dc
    entropy = dc.ntlm_entropy
    server = NtlmServer(_names(dc), entropy=entropy, clock=dc.directory.clock,
                        lookup=lambda domain, user: account_for(handler, domain, user))
    return SpnegoNtlmServer(server) if spnego else server


def sasl_step(handler: BindHandler, server: object, creds: bytes, *, first: bool, spnego: bool) -> bytes:
    try:
        if spnego:
            step = server.step(creds)  # type: ignore[attr-defined]
            return step.token
        return server.challenge(creds)  # type: ignore[attr-defined]
    except NtlmError as exc:
        raise exc.to_ldap_error() from None


def finish_ntlm(handler: BindHandler, server: object, token: bytes, *,
                spnego: bool) -> tuple[Principal | None, object | None, bytes | None]:
    """Complete an NTLM bind: (principal or None for a null session, security layer, reply token)."""
    try:
        if spnego and isinstance(server, SpnegoNtlmServer):
            step = server.step(token)
            if not step.complete or step.result is None:
                raise NtlmError("the SPNEGO exchange did not complete")
            result, layer, reply = step.result, server.security_layer, step.token or None
        else:
            result = server.authenticate(token)  # type: ignore[attr-defined]
            layer = NtlmSecurityLayer.from_result(result) if (result.signing or result.sealing) else None
            reply = None
    except NtlmError as exc:
        raise exc.to_ldap_error() from None
    if not result.success:
        raise result.ldap_error()
    if result.anonymous or result.account is None:
        return None, layer, reply
    obj = handler.d.find(result.account.dn)
    return (handler.principal_for(obj, "ntlm") if obj is not None else None), layer, reply
