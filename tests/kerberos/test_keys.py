"""Kerberos keys as directory data (dcemu.kerberos.keys, dcemu.dsa.sam): string-to-key test vectors, salts,
supplementalCredentials read back by impacket's MS-SAMR structures, msDS-KeyVersionNumber, RODC secrets.

Sources: RFC 3962 appendix B (AES string-to-key), RFC 3961 A.2 (DES string-to-key), RFC 4757 section 2
(RC4-HMAC: the key is the NT hash), MS-SAMR 2.2.10.1 / 2.2.10.6 / 3.1.1.8.11, MS-KILE 3.1.1.2 (salts),
MS-ADTS 3.1.1.4.5.16 (msDS-KeyVersionNumber).
"""

from __future__ import annotations

import struct

import pytest
from impacket.dcerpc.v5 import samr
from impacket.krb5 import crypto

from dcemu.dsa import ops, sam
from dcemu.dsa.read import EntryReader
from dcemu.kerberos import keys

# RFC 3962 appendix B: (iterations, pass phrase, salt, AES128 key, AES256 key)
RFC3962 = [
    (1, b"password", b"ATHENA.MIT.EDUraeburn", "42263c6e89f4fc28b8df68ee09799f15",
     "fe697b52bc0d3ce14432ba036a92e65bbb52280990a2fa27883998d72af30161"),
    (2, b"password", b"ATHENA.MIT.EDUraeburn", "c651bf29e2300ac27fa469d693bdda13",
     "a2e16d16b36069c135d5e9d2e25f896102685618b95914b467c67622225824ff"),
    (1200, b"password", b"ATHENA.MIT.EDUraeburn", "4c01cd46d632d01e6dbe230a01ed642a",
     "55a6ac740ad17b4846941051e1e8b0a7548d93b0ab30a8bc3ff16280382b8c2a"),
    (5, b"password", bytes.fromhex("1234567878563412"), "e9b23d52273747dd5c35cb55be619d8e",
     "97a4e786be20d81a382d5ebc96d5909cabcdadc87ca48f574504159f16c36e31"),
    (1200, b"X" * 64, b"pass phrase equals block size", "59d1bb789a828b1aa54ef9c2883f69ed",
     "89adee3608db8bc71f1bfbfe459486b05618b70cbae22092534e56c553ba4b34"),
    (1200, b"X" * 65, b"pass phrase exceeds block size", "cb8005dc5f90179a7f02104c0018751d",
     "d78c5c9cb872a8c9dad4697f0bb5b2d21496c82beb2caeda2112fceea057401b"),
    (50, "\U0001d11e".encode(), b"EXAMPLE.COMpianist", "f149c1f2e154a73452d43e7fe62a56e5",
     "4b6d9839f84406df1f09cc166db4b83c571848b784a3d6bdc346589a3e393f9e"),
]
# RFC 3961 A.2 des-string-to-key: (password, salt, key)
RFC3961_DES = [("password", "ATHENA.MIT.EDUraeburn", "cbc22fae235298e3"),
               ("potatoe", "WHITEHOUSE.GOVdanny", "df3d32a74fd92a01"),
               ("\U0001d11e", "EXAMPLE.COMpianist", "4ffb26bab0cd9413")]


@pytest.mark.parametrize(("iterations", "password", "salt", "aes128", "aes256"), RFC3962)
def test_rfc3962_vectors_impacket_and_dcemu_path(iterations: int, password: bytes, salt: bytes, aes128: str,
                                                 aes256: str) -> None:
    """RFC 3962 appendix B for both AES enctypes: impacket's string_to_key, and dcemu's (hashlib seed) path."""
    params = struct.pack(">L", iterations)
    assert crypto.string_to_key(crypto.Enctype.AES128, password, salt, params).contents.hex() == aes128
    assert crypto.string_to_key(crypto.Enctype.AES256, password, salt, params).contents.hex() == aes256
    try:
        text_salt = salt.decode("utf-8")
    except UnicodeDecodeError:
        return  # the binary salt: dcemu's path only ever sees text salts (MS-KILE 3.1.1.2)
    assert keys.string_to_key(keys.AES128, password.decode(), text_salt, iterations).hex() == aes128
    assert keys.string_to_key(keys.AES256, password.decode(), text_salt, iterations).hex() == aes256


@pytest.mark.parametrize(("password", "salt", "key"), RFC3961_DES)
def test_rfc3961_des_string_to_key_vectors(password: str, salt: str, key: str) -> None:
    assert keys.string_to_key(keys.DES_CBC_MD5, password, salt).hex() == key


def test_rfc4757_rc4_key_is_the_nt_hash() -> None:
    """RFC 4757 2: K = MD4(UNICODE(password)); the well-known NT hash of "password"."""
    assert keys.string_to_key(keys.RC4_HMAC, "password", "ignored").hex() == "8846f7eaee8fb117ad06bdd830b7586c"
    assert keys.string_to_key(keys.RC4_HMAC, "Passw0rd!", "") == sam.compute_nthash("Passw0rd!")


@pytest.mark.parametrize("etype", [keys.AES256, keys.AES128, keys.RC4_HMAC])
def test_every_enctype_round_trips_through_impacket_encrypt(etype: int) -> None:
    key = crypto.Key(etype, keys.string_to_key(etype, "Sup3r-Secret!", "CORP.EXAMPLE.COMalice"))
    blob = crypto.encrypt(key, 2, b"ticket body", b"\x07" * (8 if etype == keys.RC4_HMAC else 16))  # RFC 4757 3: 8
    assert crypto.decrypt(key, 2, blob) == b"ticket body"
    other = crypto.Key(etype, keys.string_to_key(etype, "Wrong-Secret!", "CORP.EXAMPLE.COMalice"))
    with pytest.raises(crypto.InvalidChecksum):
        crypto.decrypt(other, 2, blob)


def test_salts_ms_kile_3_1_1_2() -> None:
    assert keys.account_salt("alice", "corp.example.com", computer=False) == "CORP.EXAMPLE.COMalice"
    assert keys.account_salt("DC01$", "corp.example.com", computer=True) == "CORP.EXAMPLE.COMhostdc01.corp.example.com"
    assert keys.account_salt("krbtgt", "Corp.Example.Com", computer=False) == "CORP.EXAMPLE.COMkrbtgt"


def _impacket_newer_keys(blob: bytes) -> tuple[str, dict[int, bytes]]:
    """Parse supplementalCredentials the way secretsdump does, with impacket's MS-SAMR structures."""
    _header, _count, props = samr.unpack_user_properties(blob)
    found = {}
    while props:
        prop = samr.USER_PROPERTY(props)
        props = props[len(prop):]
        found[prop["PropertyName"].decode("utf-16-le")] = bytes.fromhex(prop["PropertyValue"].decode())
    data = found["Primary:Kerberos-Newer-Keys"]
    cred = samr.KERB_STORED_CREDENTIAL_NEW(data)
    salt = data[cred["DefaultSaltOffset"]:cred["DefaultSaltOffset"] + cred["DefaultSaltLength"]].decode("utf-16-le")
    out, buf = {}, cred["Buffer"]
    for _ in range(cred["CredentialCount"]):
        kd = samr.KERB_KEY_DATA_NEW(buf)
        buf = buf[len(kd):]
        out[kd["KeyType"]] = data[kd["KeyOffset"]:kd["KeyOffset"] + kd["KeyLength"]]
    assert found["Packages"].decode("utf-16-le") == "Kerberos"
    return salt, out


def test_password_set_writes_supplemental_credentials_ms_samr_3_1_1_8_11(dc) -> None:
    """A user's password set stores AES256/AES128/DES keys with the MS-KILE salt, readable by impacket."""
    dn = dc.add_user("alice", "Sup3r-Secret!")
    obj = dc.directory.find(dn)
    salt, found = _impacket_newer_keys(obj.first("supplementalCredentials"))
    assert salt == "CORP.EXAMPLE.COMalice"
    assert found[keys.AES256] == keys.string_to_key(keys.AES256, "Sup3r-Secret!", salt)
    assert found[keys.AES128] == keys.string_to_key(keys.AES128, "Sup3r-Secret!", salt)
    assert found[keys.DES_CBC_MD5] == keys.string_to_key(keys.DES_CBC_MD5, "Sup3r-Secret!", salt)
    assert obj.first("unicodePwd") == sam.compute_nthash("Sup3r-Secret!")
    # Secrets are never read back over LDAP.
    assert EntryReader(dc.directory).values(obj, "supplementalCredentials") == []


def test_reset_increments_kvno_and_keeps_the_old_keys_ms_adts_3_1_1_4_5_16(dc) -> None:
    dn = dc.add_user("bob", "First-Passw0rd!")
    reader = EntryReader(dc.directory)
    assert reader.values(dc.directory.find(dn), "msDS-KeyVersionNumber") == ["1"]
    ops.modify(dc.directory, dn, [ops.Change("replace", "unicodePwd", (sam.quoted_password("Second-Passw0rd!"),))],
               system=True)
    obj = dc.directory.find(dn)
    assert reader.values(obj, "msDS-KeyVersionNumber") == ["2"]
    stored = keys.stored_keys(obj.first("supplementalCredentials"))
    assert stored.current[keys.AES256] == keys.string_to_key(keys.AES256, "Second-Passw0rd!", stored.salt)
    assert stored.old[keys.AES256] == keys.string_to_key(keys.AES256, "First-Passw0rd!", stored.salt)


def test_provisioning_gives_krbtgt_and_the_dc_machine_account_keys(dc) -> None:
    d = dc.directory
    krbtgt = next(o for o in d.lookup("sAMAccountName", "krbtgt") if not o.deleted)
    assert keys.stored_keys(krbtgt.first("supplementalCredentials")).salt == "CORP.EXAMPLE.COMkrbtgt"
    machine = next(o for o in d.lookup("sAMAccountName", f"{dc.name.upper()}$") if not o.deleted)
    stored = keys.stored_keys(machine.first("supplementalCredentials"))
    assert stored.salt == f"CORP.EXAMPLE.COMhost{dc.name.lower()}.corp.example.com"
    assert len(stored.current[keys.AES256]) == 32
