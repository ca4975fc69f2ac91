"""Authentication packages of the DC: NTLM (MS-NLMP) over Sicily and GSS-SPNEGO, and NTLM session security.

The LDAP layer uses three objects per bind attempt (see each module's theory of operation):

* :class:`NtlmServer` — NEGOTIATE -> CHALLENGE, AUTHENTICATE -> :class:`NtlmResult`
  (used directly for Sicily binds, MS-ADTS 5.1.1.1.3);
* :class:`SpnegoNtlmServer` — the GSS-SPNEGO SASL exchange around an NtlmServer;
* :class:`NtlmSecurityLayer` — sign/seal of SASL buffers once the bind negotiated it.
"""

from .account import Account, logon_failure
from .ntlm import (
    SICILY_PACKAGES,
    DcNames,
    NtlmError,
    NtlmMessageError,
    NtlmPolicyError,
    NtlmResult,
    NtlmServer,
    NtlmState,
    NtlmStateError,
    sicily_discovery,
)
from .sealing import NtlmSecurityLayer, SealingError
from .spnego import GSS_SPNEGO, SpnegoError, SpnegoNtlmServer, SpnegoStep, UnsupportedMechanism

__all__ = [
    "GSS_SPNEGO",
    "SICILY_PACKAGES",
    "Account",
    "DcNames",
    "NtlmError",
    "NtlmMessageError",
    "NtlmPolicyError",
    "NtlmResult",
    "NtlmSecurityLayer",
    "NtlmServer",
    "NtlmState",
    "NtlmStateError",
    "SealingError",
    "SpnegoError",
    "SpnegoNtlmServer",
    "SpnegoStep",
    "UnsupportedMechanism",
    "logon_failure",
    "sicily_discovery",
]
