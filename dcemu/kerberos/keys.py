"""Kerberos long-term keys as directory data: string-to-key, salts and supplementalCredentials.

- the salt (MS-KILE 3.1.1.2, MS-SAMR 3.1.1.8.11.6): ``REALM`` + sAMAccountName for users (krbtgt
  and krbtgt_NNNNN included), ``REALM`` + ``host`` + lowercase name without ``$`` + ``.`` + lowercase
  DNS domain for computers;
- the keys (RFC 3962 AES, RFC 3961 DES, RFC 4757 RC4 = the NT hash kept in unicodePwd);
- supplementalCredentials (MS-SAMR 2.2.10.1 USER_PROPERTIES) with Primary:Kerberos-Newer-Keys
  (2.2.10.6 KERB_STORED_CREDENTIAL_NEW: AES256, AES128, DES-CBC-MD5 and the previous keys),
  Primary:Kerberos (2.2.10.4 KERB_STORED_CREDENTIAL: DES-CBC-MD5, DES-CBC-CRC) and Packages.

Pure functions: no directory, no I/O.  dcemu.dsa.sam calls :func:`supplemental_credentials` on every
password set, and the KDC reads the keys back with :func:`stored_keys`.
"""

from __future__ import annotations

import binascii
import hashlib
import struct
from dataclasses import dataclass, field
from functools import lru_cache

from impacket.krb5 import crypto as kcrypto
from impacket.krb5.crypto import Enctype

AES256 = Enctype.AES256          # 18
AES128 = Enctype.AES128          # 17
RC4_HMAC = Enctype.RC4           # 23
DES_CBC_MD5 = Enctype.DES_MD5    # 3
DES_CBC_CRC = 1
#: What a 2012 R2 DC offers, strongest first (MS-KILE 3.1.5.2 / msDS-SupportedEncryptionTypes default).
PREFERRED = (AES256, AES128, RC4_HMAC)
AES_ITERATIONS = 4096            # RFC 3962 default; Windows stores it as DefaultIterationCount

_UP_SIGNATURE = 0x50
_NEWER_KEYS = "Primary:Kerberos-Newer-Keys"
_KERBEROS = "Primary:Kerberos"
_PACKAGES = "Packages"


def account_salt(sam_account_name: str, realm: str, *, computer: bool) -> str:
    """The default salt of an account (MS-KILE 3.1.1.2 "Cryptographic Material")."""
    realm = realm.upper()
    if computer:
        host = sam_account_name[:-1] if sam_account_name.endswith("$") else sam_account_name
        return f"{realm}host{host.lower()}.{realm.lower()}"
    return realm + sam_account_name


@lru_cache(maxsize=1024)
def _aes_key(etype: int, password: str, salt: str, iterations: int) -> bytes:
    # impacket's _AESEnctype.string_to_key runs PBKDF2 with a Python HMAC callback (~0.5 s a key on this
    # machine, 100x hashlib); only the PBKDF2 seed is computed with hashlib, the RFC 3962 random-to-key and
    # DK(tkey, "kerberos") are impacket's.  tests/kerberos/test_vectors.py proves both paths equal.
    profile = kcrypto._enctype_table[etype]
    seed = hashlib.pbkdf2_hmac("sha1", password.encode("utf-8"), salt.encode("utf-8"), iterations,
                               profile.seedsize)
    return profile.derive(profile.random_to_key(seed), b"kerberos").contents


def string_to_key(etype: int, password: str, salt: str, iterations: int = AES_ITERATIONS) -> bytes:
    """The key of ``etype`` for a password and salt (RFC 3961 5.3, RFC 3962 4, RFC 4757 2)."""
    if etype in (AES128, AES256):
        return _aes_key(etype, password, salt, iterations)
    if etype in (DES_CBC_MD5, DES_CBC_CRC):
        return kcrypto.string_to_key(DES_CBC_MD5, password.encode("utf-8"), salt.encode("utf-8")).contents
    if etype == RC4_HMAC:
        return kcrypto.string_to_key(RC4_HMAC, password, salt).contents
    raise ValueError(f"unsupported enctype {etype}")


@dataclass
class StoredKeys:
    """The keys supplementalCredentials holds (RC4 is unicodePwd, outside this blob)."""

    salt: str
    current: dict[int, bytes] = field(default_factory=dict)
    old: dict[int, bytes] = field(default_factory=dict)


def derive(password: str, salt: str) -> dict[int, bytes]:
    """Primary:Kerberos-Newer-Keys' current keys, in Windows' order (AES256, AES128, DES-CBC-MD5)."""
    des = string_to_key(DES_CBC_MD5, password, salt)
    return {AES256: string_to_key(AES256, password, salt), AES128: string_to_key(AES128, password, salt),
            DES_CBC_MD5: des}


# --- KERB_STORED_CREDENTIAL_NEW / KERB_STORED_CREDENTIAL ------------------------------------

def _newer_keys(keys: StoredKeys) -> bytes:
    """MS-SAMR 2.2.10.6: 24-byte header, KERB_KEY_DATA_NEW arrays, the salt, then the key values."""
    salt = keys.salt.encode("utf-16-le")
    groups = [keys.current, {}, keys.old, {}]      # Credentials, ServiceCredentials, Old, Older
    n = sum(len(g) for g in groups)
    salt_off = 24 + 24 * n
    off = salt_off + len(salt)
    entries, values = b"", b""
    for group in groups:
        for etype, key in group.items():
            entries += struct.pack("<HHLLLLL", 0, 0, 0, AES_ITERATIONS, etype, len(key), off + len(values))
            values += key
    head = struct.pack("<HHHHHHHHLL", 4, 0, len(keys.current), 0, len(keys.old), 0, len(salt), len(salt),
                       salt_off, AES_ITERATIONS)
    return head + entries + salt + values


def _kerberos_keys(keys: StoredKeys) -> bytes:
    """MS-SAMR 2.2.10.4 (revision 3): the DES keys only (both DES types share the string-to-key)."""
    salt = keys.salt.encode("utf-16-le")

    def des_pair(group: dict[int, bytes]) -> list[tuple[int, bytes]]:
        return [(DES_CBC_CRC, group[DES_CBC_MD5]), (DES_CBC_MD5, group[DES_CBC_MD5])] if DES_CBC_MD5 in group else []
    cur, old = des_pair(keys.current), des_pair(keys.old)
    salt_off = 16 + 20 * (len(cur) + len(old))
    off = salt_off + len(salt)
    entries, values = b"", b""
    for etype, key in cur + old:
        entries += struct.pack("<HHLLLL", 0, 0, 0, etype, len(key), off + len(values))
        values += key
    head = struct.pack("<HHHHHHL", 3, 0, len(cur), len(old), len(salt), len(salt), salt_off)
    return head + entries + salt + values


def _parse_newer_keys(blob: bytes) -> StoredKeys:
    (rev, _flags, n_cur, n_svc, n_old, n_older, salt_len, _max, salt_off, _it) = struct.unpack_from(
        "<HHHHHHHHLL", blob)
    if rev != 4:
        raise ValueError("KERB_STORED_CREDENTIAL_NEW revision is not 4")
    salt = blob[salt_off:salt_off + salt_len].decode("utf-16-le")
    out = StoredKeys(salt)
    pos = 24
    for count, target in ((n_cur, out.current), (n_svc, {}), (n_old, out.old), (n_older, {})):
        for _ in range(count):
            _r1, _r2, _r3, _iters, etype, length, koff = struct.unpack_from("<HHLLLLL", blob, pos)
            target[etype] = blob[koff:koff + length]
            pos += 24
    return out


# --- USER_PROPERTIES -----------------------------------------------------------------------

def _user_properties(props: list[tuple[str, bytes]]) -> bytes:
    """MS-SAMR 2.2.10.1/2.2.10.2: each value hex-encoded (ASCII), names UTF-16LE."""
    body = b""
    for name, value in props:
        n, v = name.encode("utf-16-le"), binascii.hexlify(value).upper()
        body += struct.pack("<HHH", len(n), len(v), 0) + n + v
    # Length counts Reserved4 .. the last property (not Reserved5).
    inner = b"\x20" * 96 + struct.pack("<HH", _UP_SIGNATURE, len(props)) + body
    return struct.pack("<LLHH", 0, len(inner), 0, 0) + inner + b"\x00"


def parse_user_properties(blob: bytes) -> dict[str, bytes]:
    """Property name -> decoded (unhexlified) value."""
    _r1, length, _r2, _r3 = struct.unpack_from("<LLHH", blob)
    sig, count = struct.unpack_from("<HH", blob, 12 + 96)
    if sig != _UP_SIGNATURE:
        raise ValueError("USER_PROPERTIES signature is not 0x50")
    pos, out = 12 + 96 + 4, {}
    for _ in range(count):
        nlen, vlen, _res = struct.unpack_from("<HHH", blob, pos)
        pos += 6
        name = blob[pos:pos + nlen].decode("utf-16-le")
        pos += nlen
        out[name] = binascii.unhexlify(blob[pos:pos + vlen])
        pos += vlen
    if pos > 12 + length:
        raise ValueError("USER_PROPERTIES properties overrun Length")
    return out


def supplemental_credentials(password: str, salt: str, previous: bytes | None = None) -> bytes:
    """The supplementalCredentials value a password set writes (MS-SAMR 3.1.1.8.11.3).

    ``previous`` is the old value: its current keys become the OldCredentials (MS-SAMR 3.1.1.8.11.6).
    """
    keys = StoredKeys(salt, derive(password, salt))
    if previous:
        try:
            keys.old = stored_keys(previous).current
        except (ValueError, KeyError, struct.error):
            keys.old = {}
    return _user_properties([(_NEWER_KEYS, _newer_keys(keys)), (_KERBEROS, _kerberos_keys(keys)),
                             (_PACKAGES, "Kerberos".encode("utf-16-le"))])


def stored_keys(blob: bytes) -> StoredKeys:
    """The Kerberos keys of a supplementalCredentials value (KeyError when it has none)."""
    return _parse_newer_keys(parse_user_properties(blob)[_NEWER_KEYS])
