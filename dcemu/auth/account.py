"""What an authenticator needs to know about an account, and AD's logon-failure sub-codes.

Theory of operation
-------------------
Authentication packages (NTLM here; a simple bind does the same checks) ask the directory
for an :class:`Account`: the stored NT hash (the ``unicodePwd`` the DIT keeps) and the
states that make AD refuse a logon even with the right password.  The directory side
(the LDAP layer's lookup) derives those flags from ``userAccountControl``, ``lockoutTime``,
``accountExpires`` and ``pwdLastSet``; this module only knows their *precedence* and the
``data`` sub-code AD prints in ``AcceptSecurityContext error, data 52e`` (the Win32 error
of the failed logon, MS-ERREF 2.2):

=====  ================================  =====================================
data   Win32 error                       when
=====  ================================  =====================================
52e    ERROR_LOGON_FAILURE               wrong password, or no such user
533    ERROR_ACCOUNT_DISABLED            UF_ACCOUNTDISABLE, right password
701    ERROR_ACCOUNT_EXPIRED             accountExpires passed, right password
773    ERROR_PASSWORD_MUST_CHANGE        pwdLastSet = 0, right password
532    ERROR_PASSWORD_EXPIRED            maxPwdAge passed, right password
775    ERROR_ACCOUNT_LOCKED_OUT          locked out, whatever the password
=====  ================================  =====================================

Precedence follows Samba's ``authsam_authenticate`` (a lockout is reported before the
password is checked, so a locked account cannot be used to guess; the other states only
after the password proved right, as ../shared/reference/samba-observed/bind_subcodes.txt
shows for 533 and 773): locked → password → disabled → account expired → must change →
password expired.  An unknown user gets 52e, not 525, as a Windows DC answers LDAP binds.
"""

from __future__ import annotations

from dataclasses import dataclass

#: ``data`` sub-codes of AD's bind failure text (hex of the Win32 error, as AD prints it).
LOGON_FAILURE = "52e"
ACCOUNT_DISABLED = "533"
ACCOUNT_EXPIRED = "701"
PASSWORD_MUST_CHANGE = "773"
PASSWORD_EXPIRED = "532"
ACCOUNT_LOCKED_OUT = "775"


@dataclass(frozen=True, slots=True)
class Account:
    """One security principal as an authenticator sees it.

    Attributes:
        nt_hash: MD4 of the UTF-16LE password (16 bytes), as stored in ``unicodePwd``.
        dn: the account's DN (or any key the caller wants back in the result).
        disabled: ``userAccountControl`` has UF_ACCOUNTDISABLE (0x2).
        locked: the account is locked out (``lockoutTime`` within the lockout duration).
        account_expired: ``accountExpires`` is in the past.
        must_change_password: ``pwdLastSet`` is 0.
        password_expired: the password is older than the domain's ``maxPwdAge``.
    """

    nt_hash: bytes
    dn: str = ""
    disabled: bool = False
    locked: bool = False
    account_expired: bool = False
    must_change_password: bool = False
    password_expired: bool = False

    def __post_init__(self) -> None:
        if len(self.nt_hash) != 16:
            raise ValueError(f"an NT hash is 16 bytes, not {len(self.nt_hash)}")

    def __repr__(self) -> str:  # never print the hash
        return (f"Account(dn={self.dn!r}, disabled={self.disabled}, locked={self.locked}, "
                f"account_expired={self.account_expired}, must_change_password={self.must_change_password}, "
                f"password_expired={self.password_expired})")


def logon_failure(account: Account | None, *, password_ok: bool) -> str | None:
    """The ``data`` sub-code refusing this logon, or None if the logon succeeds.

    Args:
        account: the looked-up account, None if there is no such user.
        password_ok: whether the proof of the password verified against ``account``.
    """
    if account is None:
        return LOGON_FAILURE
    if account.locked:
        return ACCOUNT_LOCKED_OUT
    if not password_ok:
        return LOGON_FAILURE
    if account.disabled:
        return ACCOUNT_DISABLED
    if account.account_expired:
        return ACCOUNT_EXPIRED
    if account.must_change_password:
        return PASSWORD_MUST_CHANGE
    if account.password_expired:
        return PASSWORD_EXPIRED
    return None
