"""Hyper-V Replica server settings and authorization (R-HV-50, R-HV-51, R-HV-66).

Theory of operation
-------------------
A host receives replication only when ``Set-VMReplicationServer -ReplicationEnabled`` is on,
the primary uses an authentication type the server allows (Kerberos over HTTP, port 80 by
default; certificates over HTTPS, port 443) on the port it listens on, and the primary is
authorized: either replication is allowed from any server (then a default storage location is
required) or an authorization entry matches the primary's FQDN (wildcards allowed) and gives
the storage location for its Replica VMs.  ``authorize`` is the one place that checks this,
for Enable-VMReplication and for the reverse direction of a planned failover.
"""

from __future__ import annotations

import fnmatch
from pathlib import Path

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import InvalidParameterError, ReplicaServerError, UnsupportedOnHostError
from dcemu.hyperv.persistence import resolve_path, stored_path
from dcemu.hyperv.records import AuthorizationEntry, ReplicationServer
from dcemu.hyperv.views import ReplicationServerInfo

HOUR = 3600


def require_replica_support(host: HostCore) -> None:
    if not host.features.replica:
        raise UnsupportedOnHostError(f"Hyper-V Replica is not available on host '{host.name}' "
                                     f"({host.features.label}); it needs Windows Server 2012 or later.")


def _server_info(host: HostCore) -> ReplicationServerInfo:
    s = host.state.replication_server
    return ReplicationServerInfo(host.name, s.replication_enabled, s.allowed_authentication_type,
                                 s.replication_allowed_from_any_server, s.default_storage_location,
                                 s.kerberos_authentication_port, s.certificate_authentication_port,
                                 s.monitoring_interval_sec, s.monitoring_start_time,
                                 tuple({"allowed_primary_server": e.allowed_primary_server,
                                        "replica_storage_location": e.replica_storage_location,
                                        "trust_group": e.trust_group} for e in s.authorization_entries))


def get_vm_replication_server(host: HostCore) -> ReplicationServerInfo:
    """Get-VMReplicationServer."""
    host.check_open()
    return _server_info(host)


@operation
def set_vm_replication_server(host: HostCore, *, replication_enabled: bool | None = None,
                              allowed_authentication_type: str | None = None,
                              replication_allowed_from_any_server: bool | None = None,
                              default_storage_location: str | Path | None = None,
                              kerberos_authentication_port: int | None = None,
                              certificate_authentication_port: int | None = None,
                              certificate_thumbprint: str | None = None,
                              monitoring_interval_sec: int | None = None,
                              monitoring_start_time: str | None = None) -> ReplicationServerInfo:
    """Set-VMReplicationServer (R-HV-50): Kerberos on HTTP port 80, certificates on HTTPS 443 by default."""
    require_replica_support(host)
    s = host.state.replication_server
    if allowed_authentication_type is not None:
        if allowed_authentication_type not in ("Kerberos", "Certificate", "CertificateAndKerberos"):
            raise InvalidParameterError("allowed_authentication_type must be Kerberos, Certificate or "
                                        "CertificateAndKerberos.")
        s.allowed_authentication_type = allowed_authentication_type
    for name, value in (("replication_enabled", replication_enabled),
                        ("replication_allowed_from_any_server", replication_allowed_from_any_server),
                        ("kerberos_authentication_port", kerberos_authentication_port),
                        ("certificate_authentication_port", certificate_authentication_port),
                        ("certificate_thumbprint", certificate_thumbprint),
                        ("monitoring_start_time", monitoring_start_time)):
        if value is not None:
            setattr(s, name, value)
    if default_storage_location is not None:
        Path(default_storage_location).mkdir(parents=True, exist_ok=True)
        s.default_storage_location = stored_path(Path(default_storage_location), host.path)
    if monitoring_interval_sec is not None:
        if not HOUR <= monitoring_interval_sec <= 7 * 24 * HOUR:
            raise InvalidParameterError("The monitoring interval must be between 1 hour and 7 days (R-HV-50).")
        s.monitoring_interval_sec = monitoring_interval_sec
    if s.replication_allowed_from_any_server and not s.default_storage_location:
        raise InvalidParameterError("Allowing replication from any server needs a default storage location "
                                    "(R-HV-50).")
    if "Certificate" in s.allowed_authentication_type and not s.certificate_thumbprint:
        raise InvalidParameterError("Certificate-based authentication needs a certificate thumbprint (R-HV-66).")
    return _server_info(host)


@operation
def new_vm_replication_authorization_entry(host: HostCore, *, allowed_primary_server: str,
                                           replica_storage_location: str | Path,
                                           trust_group: str = "DEFAULT") -> ReplicationServerInfo:
    """New-VMReplicationAuthorizationEntry: which primaries may replicate here, and where to (R-HV-50)."""
    require_replica_support(host)
    Path(replica_storage_location).mkdir(parents=True, exist_ok=True)
    host.state.replication_server.authorization_entries.append(AuthorizationEntry(
        allowed_primary_server, stored_path(Path(replica_storage_location), host.path), trust_group))
    return _server_info(host)


def authorize(server_host: HostCore, primary: HostCore, *, authentication_type: str,
              port: int | None) -> Path:
    """Check that ``server_host`` accepts replication from ``primary``; returns the storage location."""
    s: ReplicationServer = server_host.state.replication_server
    if not server_host.features.replica or not s.replication_enabled:
        raise ReplicaServerError(f"The Hyper-V Replica server '{server_host.name}' is not configured to receive "
                                 f"replication (Set-VMReplicationServer -ReplicationEnabled, R-HV-50).")
    allowed = {"Kerberos": ("Kerberos", "CertificateAndKerberos"),
               "Certificate": ("Certificate", "CertificateAndKerberos")}
    if s.allowed_authentication_type not in allowed.get(authentication_type, ()):
        raise ReplicaServerError(f"The Replica server '{server_host.name}' does not accept {authentication_type} "
                                 f"authentication (it allows {s.allowed_authentication_type}).")
    listening = s.kerberos_authentication_port if authentication_type == "Kerberos" \
        else s.certificate_authentication_port
    if port is not None and port != listening:
        raise ReplicaServerError(f"The Replica server '{server_host.name}' is not listening on port {port} for "
                                 f"{authentication_type} authentication (it listens on {listening}).")
    if s.replication_allowed_from_any_server and s.default_storage_location:
        return resolve_path(s.default_storage_location, server_host.path)
    for entry in s.authorization_entries:
        pattern = entry.allowed_primary_server.lower()
        if fnmatch.fnmatchcase(primary.fqdn.lower(), pattern) or fnmatch.fnmatchcase(primary.name.lower(), pattern):
            return resolve_path(entry.replica_storage_location, server_host.path)
    raise ReplicaServerError(f"The Replica server '{server_host.name}' is not authorized to receive replication "
                             f"from '{primary.fqdn}' (no authorization entry matches, R-HV-50).")


