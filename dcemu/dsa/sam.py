"""Security-principal rules the DSA applies to users, computers and groups (MS-SAMR 3.1.1.8, MS-ADTS 3.1.1.5.2.2).

- objectSid = domain SID + a RID from the DC's RID pool (dcemu.rid supplies ``rid_allocator``);
- sAMAccountName unique in the domain (entryAlreadyExists otherwise), generated if absent;
- userAccountControl, sAMAccountType, primaryGroupID and groupType defaults;
- passwords: unicodePwd is a quoted UTF-16LE string on the wire; the DIT keeps only its NT hash
  (impacket's ``compute_nthash``) and it is never returned by a read.
"""

from __future__ import annotations

from functools import lru_cache
from typing import TYPE_CHECKING

from impacket.ntlm import compute_nthash as _compute_nthash

from ..clock import to_filetime
from ..errors import ConstraintViolation, EntryAlreadyExists, UnwillingToPerform, atr_err, svc_err, upd_err
from ..ids import child_sid_bytes
from ..kerberos import keys as krb_keys
from ..store.interface import StoredObject, Value

if TYPE_CHECKING:
    from .directory import Directory


# userAccountControl bits (MS-ADTS 2.2.16)
UF_ACCOUNTDISABLE = 0x2
UF_PASSWD_NOTREQD = 0x20
UF_NORMAL_ACCOUNT = 0x200
UF_WORKSTATION_TRUST_ACCOUNT = 0x1000
UF_SERVER_TRUST_ACCOUNT = 0x2000
UF_DONT_EXPIRE_PASSWD = 0x10000
UF_TRUSTED_FOR_DELEGATION = 0x80000
UF_PARTIAL_SECRETS_ACCOUNT = 0x4000000

# sAMAccountType (MS-SAMR 2.2.1.9)
SAM_GROUP_OBJECT = 0x10000000
SAM_NON_SECURITY_GROUP_OBJECT = 0x10000001
SAM_ALIAS_OBJECT = 0x20000000
SAM_NON_SECURITY_ALIAS_OBJECT = 0x20000001
SAM_USER_OBJECT = 0x30000000
SAM_MACHINE_ACCOUNT = 0x30000001
SAM_TRUST_ACCOUNT = 0x30000002

# groupType bits (MS-ADTS 2.2.12)
GROUP_TYPE_BUILTIN_LOCAL_GROUP = 0x1
GROUP_TYPE_ACCOUNT_GROUP = 0x2
GROUP_TYPE_RESOURCE_GROUP = 0x4
GROUP_TYPE_UNIVERSAL_GROUP = 0x8
GROUP_TYPE_SECURITY_ENABLED = 0x80000000

PRINCIPAL_CLASSES = ("user", "computer", "group", "inetOrgPerson", "msDS-ManagedServiceAccount",
                     "msDS-GroupManagedServiceAccount")
PASSWORD_ATTRIBUTES = frozenset({"unicodePwd"})
#: Attributes an originating password write stamps (they replicate together).
PASSWORD_STAMPED = frozenset({"unicodePwd", "pwdLastSet", "ntPwdHistory", "dBCSPwd", "supplementalCredentials",
                              "lmPwdHistory"})
#: systemOnly attributes a client may still supply.  msDS-AllowedToActOnBehalfOfOtherIdentity is systemOnly in
#: the 2012 R2 schema, yet Windows lets anyone with WriteProperty set it: that is how resource-based constrained
#: delegation is configured (Set-ADComputer -PrincipalsAllowedToDelegateToAccount, impacket's rbcd.py; MS-SFU 3.2.5.2.3).
CLIENT_SETTABLE_SYSTEM_ONLY = frozenset({"instanceType", "objectClass", "msDS-AllowedToActOnBehalfOfOtherIdentity"})
#: Attributes the DSA writes that are not always in the class's may list.
DSA_MAINTAINED = frozenset({"pwdLastSet", "ntPwdHistory", "dBCSPwd", "lmPwdHistory", "supplementalCredentials"})


@lru_cache(maxsize=256)
def compute_nthash(password: str) -> bytes:
    """MD4 of the UTF-16LE password (impacket), memoised: bulk population repeats one password."""
    return _compute_nthash(password)


_PRINCIPAL_CLASSES = frozenset(("user", "group", "computer"))


def is_principal(classes: list[str]) -> bool:
    return not _PRINCIPAL_CLASSES.isdisjoint(classes)


def sam_account_type(classes: list[str], uac: int, group_type: int) -> int:
    if "group" in classes:
        security = bool(group_type & GROUP_TYPE_SECURITY_ENABLED)
        if group_type & (GROUP_TYPE_RESOURCE_GROUP | GROUP_TYPE_BUILTIN_LOCAL_GROUP):
            return SAM_ALIAS_OBJECT if security else SAM_NON_SECURITY_ALIAS_OBJECT
        return SAM_GROUP_OBJECT if security else SAM_NON_SECURITY_GROUP_OBJECT
    if uac & (UF_WORKSTATION_TRUST_ACCOUNT | UF_SERVER_TRUST_ACCOUNT):
        return SAM_MACHINE_ACCOUNT
    return SAM_USER_OBJECT


def auto_filled(classes: list[str]) -> set[str]:
    """Attributes ``prepare_add`` supplies for a principal when the client did not."""
    if not is_principal(classes):
        return set()
    filled = {"objectSid", "sAMAccountName", "sAMAccountType"}
    return filled | {"groupType"} if "group" in classes else filled


def prepare_add(d: Directory, obj: StoredObject, structural: str, classes: list[str],
                values: dict[str, list[Value]], *, system: bool) -> None:
    """Fill in SAM defaults for a new principal and take its RID (R-RID-10, R-RID-13)."""
    if not is_principal(classes):
        return
    store = d.store
    if "group" in classes:
        gt = int(values.get("groupType", [str(GROUP_TYPE_ACCOUNT_GROUP | GROUP_TYPE_SECURITY_ENABLED)])[0])
        values["groupType"] = [str(_signed32(gt))]
        uac = 0
    else:
        default = (UF_WORKSTATION_TRUST_ACCOUNT | UF_PASSWD_NOTREQD) if "computer" in classes else (
            UF_NORMAL_ACCOUNT | UF_PASSWD_NOTREQD | UF_ACCOUNTDISABLE)
        uac = int(values.get("userAccountControl", [str(default)])[0])
        values["userAccountControl"] = [str(uac)]
        critical = critical_for_uac(uac)
        if critical is not None and "isCriticalSystemObject" not in values:
            values["isCriticalSystemObject"] = [critical]
        if "primaryGroupID" not in values:
            pg = 516 if uac & UF_SERVER_TRUST_ACCOUNT else 521 if uac & UF_PARTIAL_SECRETS_ACCOUNT else (
                515 if "computer" in classes else 513)
            values["primaryGroupID"] = [str(pg)]
        values.setdefault("pwdLastSet", ["0"])
        for attr in ("accountExpires",):
            values.setdefault(attr, ["9223372036854775807"])
        for attr in ("badPwdCount", "badPasswordTime", "lastLogon", "lastLogoff", "logonCount", "codePage",
                     "countryCode"):
            values.setdefault(attr, ["0"])
    values["sAMAccountType"] = [str(sam_account_type(classes, uac, int(values.get("groupType", ["0"])[0])))]
    if "sAMAccountName" not in values:
        e = d.entropy
        alphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUV"
        rnd = "".join(alphabet[e.randint(0, 31)] for _ in range(18))
        values["sAMAccountName"] = [f"${rnd[:6]}-{rnd[6:]}"]
    # The RID is taken before the password policy is checked: a create that fails on the password
    # still consumes its RID (R-RID-13, the spec's own example).
    if "objectSid" not in values:
        allocator = d.rid_allocator
        if allocator is None:
            raise UnwillingToPerform(svc_err(0x2010, "031A1254", data=0x2010))
        domain_sid = str(store.state("domainSid"))
        values["objectSid"] = [child_sid_bytes(domain_sid, allocator())]
    if "unicodePwd" in values:
        password = _decode_password(d, values["unicodePwd"][0])
        if not system:
            _check_complexity(d, password, values)
        _set_password(d, values, password)


def _is_dc_account(uac: int) -> bool:
    """A DC's account: a writable DC (SERVER_TRUST) or an RODC (WORKSTATION_TRUST + PARTIAL_SECRETS)."""
    rodc = UF_WORKSTATION_TRUST_ACCOUNT | UF_PARTIAL_SECRETS_ACCOUNT
    return bool(uac & UF_SERVER_TRUST_ACCOUNT) or uac & rodc == rodc


def critical_for_uac(uac: int) -> str | None:
    """isCriticalSystemObject after a userAccountControl write (MS-SAMR 3.1.1.8.10, as Windows does
    it): TRUE when the account becomes a DC's, FALSE when it becomes a workstation's, else unchanged."""
    if _is_dc_account(uac):
        return "TRUE"
    if uac & UF_WORKSTATION_TRUST_ACCOUNT:
        return "FALSE"
    return None


def _signed32(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - 0x100000000 if value & 0x80000000 else value


def check_unique(d: Directory, obj: StoredObject) -> None:
    """sAMAccountName must be unique among live objects of the domain (entryAlreadyExists)."""
    for name in obj.attrs.get("sAMAccountName", []):
        for other in d.lookup("sAMAccountName", name):
            if other.guid != obj.guid and not other.deleted and other.nc == obj.nc:
                raise EntryAlreadyExists(upd_err(0x524, "031A11D8", 6005, "ENTRY_EXISTS"))


def check_modify(d: Directory, obj: StoredObject, values: dict[str, list[Value]], changed: set[str]) -> None:
    """Keep sAMAccountType in step with userAccountControl/groupType changes."""
    if "userAccountControl" in changed or "groupType" in changed:
        classes = [str(c) for c in values.get("objectClass", [])]
        if is_principal(classes):
            uac = int(values.get("userAccountControl", ["0"])[0])
            gt = int(values.get("groupType", ["0"])[0])
            values["sAMAccountType"] = [str(sam_account_type(classes, uac, gt))]
            changed.add("sAMAccountType")
            critical = critical_for_uac(uac) if "userAccountControl" in changed else None
            if critical is not None and values.get("isCriticalSystemObject") != [critical]:
                values["isCriticalSystemObject"] = [critical]
                changed.add("isCriticalSystemObject")


# --- passwords -------------------------------------------------------------------------------

def _pwd_error(d: Directory, code: int = 0x52D) -> ConstraintViolation:
    sch = d.schema.find_attribute("unicodePwd")
    return ConstraintViolation(atr_err(code, "03191083", 1005, "CONSTRAINT_ATT_TYPE", sch.attid if sch else 0,
                                       "unicodePwd"))


def _decode_password(d: Directory, raw: Value) -> str:
    """unicodePwd on the wire: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5.1)."""
    data = raw if isinstance(raw, bytes) else raw.encode("latin-1")
    try:
        text = data.decode("utf-16-le")
    except UnicodeDecodeError as exc:
        raise _pwd_error(d, 0x56) from exc
    if len(text) < 2 or text[0] != '"' or text[-1] != '"':
        raise _pwd_error(d, 0x56)
    return text[1:-1]


def _check_complexity(d: Directory, password: str, values: dict[str, list[Value]]) -> None:
    """Default Domain Policy: at least 7 characters, three of four character classes."""
    classes = sum([any(c.islower() for c in password), any(c.isupper() for c in password),
                   any(c.isdigit() for c in password), any(not c.isalnum() for c in password)])
    if len(password) < 7 or classes < 3:
        raise _pwd_error(d)


def _set_password(d: Directory, values: dict[str, list[Value]], password: str) -> None:
    """unicodePwd (the NT hash = the RC4 key) and supplementalCredentials (the AES/DES keys, MS-SAMR 3.1.1.8.11.3).

    Both are stamped together with pwdLastSet (PASSWORD_STAMPED): their metadata version is the key
    version number (msDS-KeyVersionNumber, MS-ADTS 3.1.1.4.5.16), so every set increments it.
    """
    now = d.clock.now()
    values["unicodePwd"] = [compute_nthash(password)]
    values["pwdLastSet"] = [str(to_filetime(now))]
    classes = values.get("objectClass", [])
    salt = krb_keys.account_salt(str(values.get("sAMAccountName", [""])[0]), str(d.store.state("dnsDomain", "")),
                                 computer="computer" in classes)
    previous = values.get("supplementalCredentials", [None])[0]
    values["supplementalCredentials"] = [krb_keys.supplemental_credentials(
        password, salt, previous if isinstance(previous, bytes) else None)]


def quoted_password(password: str) -> bytes:
    """unicodePwd as a client sends it: the password in double quotes, UTF-16LE (MS-ADTS 3.1.1.3.1.5.1)."""
    return f'"{password}"'.encode("utf-16-le")


def set_password_hash(values: dict[str, list[Value]], password: str) -> None:
    """For provisioning: ``password`` as a client sends it; a system add stores its NT hash unchecked.

    Always the quoted form: a ready-made 16-byte hash could not be told from a quoted 6-character
    password (both may start with ``"\\0``), so the add path never guesses.
    """
    values["unicodePwd"] = [quoted_password(password)]


def apply_password_change(d: Directory, obj: StoredObject, values: dict[str, list[Value]], change: object,
                          *, system: bool) -> None:
    """replace = reset (admin); delete old + add new = change, which must know the old password."""
    op = change.op
    raw = list(change.values)
    if op == "delete":
        if len(raw) != 1 or values.get("unicodePwd", [b""])[0] != compute_nthash(_decode_password(d, raw[0])):
            raise _pwd_error(d, 0x56)
        return
    if op not in ("add", "replace") or len(raw) != 1:
        raise UnwillingToPerform(svc_err(0x209A, "031A124C"))
    password = _decode_password(d, raw[0])
    if not system:
        _check_complexity(d, password, values)
    _set_password(d, values, password)


def verify_password(obj: StoredObject, password: str) -> bool:
    stored = obj.first("unicodePwd")
    return isinstance(stored, bytes) and stored == compute_nthash(password)


def nt_hash(obj: StoredObject) -> bytes | None:
    stored = obj.first("unicodePwd")
    return stored if isinstance(stored, bytes) else None
