"""Numbers replication speaks in: Win32 errors, DRS_OPTIONS bits, EXOP codes, DSA options.

Sources: MS-DRSR 5.41 (DRS_OPTIONS), 4.1.10.2.21/22 (EXOP_ERR / EXOP_REQ codes), MS-ADTS 6.1.1.2.2.1.2.1.1
(nTDSDSA options), MS-ERREF (the Win32 codes; texts are taken from impacket's table of Windows
messages so that ``repadmin``-style output matches Windows word for word).
"""

from __future__ import annotations

from ..errors import DcemuError

# --- Win32 errors replication reports (repsFrom "last result") ------------------------------------
ERROR_SUCCESS = 0
RPC_S_SERVER_UNAVAILABLE = 1722
ERROR_DS_NO_RIDS_ALLOCATED = 8208
ERROR_DS_CANT_FIND_EXPECTED_NC = 8420
ERROR_DS_DRA_INVALID_PARAMETER = 8437
ERROR_DS_DRA_BAD_DN = 8439
ERROR_DS_DRA_BAD_NC = 8440
ERROR_DS_DRA_INTERNAL_ERROR = 8442
ERROR_DS_DRA_NO_REPLICA = 8452
ERROR_DS_DRA_ACCESS_DENIED = 8453
ERROR_DS_DRA_SOURCE_DISABLED = 8456
ERROR_DS_DRA_SINK_DISABLED = 8457
ERROR_DS_DRA_MISSING_PARENT = 8460
ERROR_DS_DRA_SOURCE_REINSTALLED = 8459
ERROR_DS_INSUFFICIENT_ATTR_TO_CREATE_OBJECT = 8606
ERROR_DS_REPL_LIFETIME_EXCEEDED = 8614

_FALLBACK_TEXT = {
    ERROR_SUCCESS: "The operation completed successfully.",
    RPC_S_SERVER_UNAVAILABLE: "The RPC server is unavailable.",
    ERROR_DS_DRA_SOURCE_DISABLED: "The source server is currently rejecting replication requests.",
    ERROR_DS_DRA_SINK_DISABLED: "The destination server is currently rejecting replication requests.",
}


def error_name(code: int) -> str:
    """``ERROR_DS_DRA_SOURCE_DISABLED`` for 8456 (impacket's table of Windows error names)."""
    try:
        from impacket.system_errors import ERROR_MESSAGES
        return ERROR_MESSAGES[code][0]
    except (ImportError, KeyError):
        return f"ERROR_{code}"


def error_text(code: int) -> str:
    """Windows' message for a Win32 error code, as repadmin prints it under a failure."""
    if code == ERROR_SUCCESS:
        return _FALLBACK_TEXT[ERROR_SUCCESS]
    try:
        from impacket.system_errors import ERROR_MESSAGES
        return ERROR_MESSAGES[code][1]
    except (ImportError, KeyError):
        return _FALLBACK_TEXT.get(code, f"Win32 error {code}.")


class DrsError(DcemuError):
    """A replication call failed with a Win32 error code (what repsFrom records as last result)."""

    def __init__(self, win32: int, detail: str = "") -> None:
        self.win32 = int(win32)
        self.detail = detail
        text = f"{self.win32} (0x{self.win32:x}): {error_text(self.win32)}"
        super().__init__(text + (f" [{detail}]" if detail else ""))


# --- DRS_OPTIONS (MS-DRSR 5.41) -------------------------------------------------------------------
DRS_ASYNC_OP = 0x00000001
DRS_UPDATE_NOTIFICATION = 0x00000002
DRS_ADD_REF = 0x00000004
DRS_DEL_REF = 0x00000008
DRS_WRIT_REP = 0x00000010
DRS_INIT_SYNC = 0x00000020
DRS_PER_SYNC = 0x00000040
DRS_TWOWAY_SYNC = 0x00000200
DRS_GET_ANC = 0x00000800
DRS_FULL_SYNC_NOW = 0x00008000
DRS_FULL_SYNC_IN_PROGRESS = 0x00010000
DRS_SYNC_FORCED = 0x02000000
DRS_NEVER_NOTIFY = 0x20000000

# --- DRS_MSG_UPDREFS options (MS-DRSR 4.1.26) ------------------------------------------------------
DRS_UPDREFS_ADD_REF = DRS_ADD_REF
DRS_UPDREFS_DEL_REF = DRS_DEL_REF

# --- Extended operations (MS-DRSR 4.1.10.2.22) and their results (4.1.10.2.21) ----------------------
EXOP_NONE = 0
EXOP_FSMO_REQ_ROLE = 1
EXOP_FSMO_REQ_RID_ALLOC = 2
EXOP_FSMO_RID_REQ_ROLE = 3
EXOP_FSMO_REQ_PDC = 4
EXOP_FSMO_ABANDON_ROLE = 5
EXOP_REPL_OBJ = 6
EXOP_REPL_SECRETS = 7

EXOP_ERR_SUCCESS = 1
EXOP_ERR_UNKNOWN_OP = 2
EXOP_ERR_FSMO_NOT_OWNER = 3
EXOP_ERR_UPDATE_ERR = 4
EXOP_ERR_EXCEPTION = 5
EXOP_ERR_UNKNOWN_CALLER = 6
EXOP_ERR_RID_ALLOC = 7
EXOP_ERR_FSMO_OWNER_DELETED = 8
EXOP_ERR_COULDNT_CONTACT = 11
EXOP_ERR_PARAM_ERR = 16

EXOP_ERR_NAMES = {
    EXOP_ERR_SUCCESS: "EXOP_ERR_SUCCESS", EXOP_ERR_UNKNOWN_OP: "EXOP_ERR_UNKNOWN_OP",
    EXOP_ERR_FSMO_NOT_OWNER: "EXOP_ERR_FSMO_NOT_OWNER", EXOP_ERR_UPDATE_ERR: "EXOP_ERR_UPDATE_ERR",
    EXOP_ERR_EXCEPTION: "EXOP_ERR_EXCEPTION", EXOP_ERR_UNKNOWN_CALLER: "EXOP_ERR_UNKNOWN_CALLER",
    EXOP_ERR_RID_ALLOC: "EXOP_ERR_RID_ALLOC", EXOP_ERR_FSMO_OWNER_DELETED: "EXOP_ERR_FSMO_OWNER_DELETED",
    EXOP_ERR_COULDNT_CONTACT: "EXOP_ERR_COULDNT_CONTACT", EXOP_ERR_PARAM_ERR: "EXOP_ERR_PARAM_ERR",
}

# --- nTDSDSA options (MS-ADTS 6.1.1.2.2.1.2.1.1) and nTDSConnection options (6.1.1.2.2.1.2.1.2) ------
NTDSDSA_OPT_IS_GC = 0x1
NTDSDSA_OPT_DISABLE_INBOUND_REPL = 0x2
NTDSDSA_OPT_DISABLE_OUTBOUND_REPL = 0x4
NTDSDSA_OPT_DISABLE_NTDSCONN_XLATE = 0x8
NTDSCONN_OPT_IS_GENERATED = 0x1

#: "Dsa Not Writable" bit for a detected USN rollback (R-USN-12: DSA_WRITABLE_USNROLLBCK).
DSA_WRITABLE_USNROLLBCK = 4
