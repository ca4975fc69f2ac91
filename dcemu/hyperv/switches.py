"""Virtual switches and network adapters (R-HV-70..R-HV-74).

Theory of operation
-------------------
A host has named switches of type External, Internal or Private.  A VM's adapter is
synthetic or legacy (legacy only on Gen 1, R-HV-71), connected to one switch or to none, and
has a MAC that is dynamic (drawn from the host's pool, ``00155D`` + 4 host digits + a counter,
like Hyper-V's default range) or static.  Static MACs survive export/import and copying, so
two clones of a VM with a static MAC collide on a switch (R-HV-72): the guest's view of its
adapters reports ``duplicate_mac`` when another running VM on the same switch has its MAC.
Failover IP settings (R-HV-73) are stored on the adapter and shown to the guest only while the
VM is a failed-over replica or a test-failover VM.

Connecting and disconnecting adapters never changes the GenID (G22).
"""

from __future__ import annotations

from dcemu.hyperv.core import HostCore, operation
from dcemu.hyperv.errors import (
    AlreadyExistsError,
    InvalidParameterError,
    NetworkAdapterNotFoundError,
    UnsupportedOnHostError,
)
from dcemu.hyperv.genid import GenIdEvent
from dcemu.hyperv.records import (
    NetworkAdapter,
    Switch,
    SwitchType,
    VMRecord,
    VMState,
)
from dcemu.hyperv.views import NetworkAdapterInfo, SwitchInfo
from dcemu.hyperv.vmconfig import find_switch, new_mac, normalize_mac, require_state


def _switch_info(host: HostCore, s: Switch) -> SwitchInfo:
    return SwitchInfo(s.id, s.name, s.switch_type.value, s.net_adapter_name, host.name)


@operation
def new_vm_switch(host: HostCore, name: str, *, switch_type: str | None = None,
                  net_adapter_name: str | None = None) -> SwitchInfo:
    """New-VMSwitch: External when bound to a physical NIC (``net_adapter_name``), else Internal/Private."""
    if not name.strip():
        raise InvalidParameterError("The switch name cannot be empty.")
    if any(s.name.lower() == name.lower() for s in host.state.switches):
        raise AlreadyExistsError(f"A virtual switch named '{name}' already exists on host '{host.name}'.")
    if net_adapter_name is not None:
        if switch_type not in (None, "External"):
            raise InvalidParameterError("A switch bound to a network adapter is an External switch.")
        kind = SwitchType.EXTERNAL
    else:
        if switch_type is None:
            raise InvalidParameterError("Give switch_type Internal or Private, or net_adapter_name for External.")
        try:
            kind = SwitchType(switch_type)
        except ValueError:
            raise InvalidParameterError(f"Unknown switch type '{switch_type}'; expected External, Internal or "
                                        f"Private.") from None
        if kind is SwitchType.EXTERNAL:
            raise InvalidParameterError("An External switch needs net_adapter_name (the physical adapter).")
    switch = Switch(id=host.new_guid(), name=name, switch_type=kind, net_adapter_name=net_adapter_name)
    host.state.switches.append(switch)
    return _switch_info(host, switch)


def get_vm_switch(host: HostCore, name: str | None = None) -> list[SwitchInfo]:
    """Get-VMSwitch."""
    host.check_open()
    if name is not None:
        return [_switch_info(host, find_switch(host, name))]
    return [_switch_info(host, s) for s in host.state.switches]


@operation
def remove_vm_switch(host: HostCore, name: str) -> SwitchInfo:
    """Remove-VMSwitch: adapters on it become not connected."""
    switch = find_switch(host, name)
    for vm in host.state.vms:
        for nic in vm.network_adapters:
            if nic.switch_name == switch.name:
                nic.switch_name = None
            if nic.test_replica_switch_name == switch.name:
                nic.test_replica_switch_name = None
    host.state.switches.remove(switch)
    return _switch_info(host, switch)


def _nics(vm: VMRecord, name: str | None) -> list[NetworkAdapter]:
    if name is None:
        return list(vm.network_adapters)
    found = [n for n in vm.network_adapters if n.name.lower() == name.lower()]
    if not found:
        raise NetworkAdapterNotFoundError(name, vm.name)
    return found


def _nic_info(vm: VMRecord, n: NetworkAdapter) -> NetworkAdapterInfo:
    return NetworkAdapterInfo(vm.name, n.name, n.is_legacy, n.switch_name, n.mac_address, n.mac_is_static,
                              n.test_replica_switch_name, dict(n.failover_config))


@operation
def add_vm_network_adapter(host: HostCore, vm_name: str, *, name: str = "Network Adapter",
                           is_legacy: bool = False, switch_name: str | None = None,
                           static_mac_address: str | None = None) -> NetworkAdapterInfo:
    """Add-VMNetworkAdapter: legacy adapters exist on Gen 1 only (R-HV-71)."""
    vm = host.vm(vm_name)
    if is_legacy and vm.generation == 2:
        raise InvalidParameterError(f"'{vm.name}' is a generation 2 virtual machine, which cannot use a legacy "
                                    f"network adapter (R-HV-71).")
    hot_add = vm.generation == 2 and not is_legacy and host.os_version.value == "2016"
    allowed = (VMState.OFF, VMState.RUNNING) if hot_add else (VMState.OFF,)
    require_state(vm, "add a network adapter", *allowed)
    nic = NetworkAdapter(name=name, is_legacy=is_legacy,
                         switch_name=find_switch(host, switch_name).name if switch_name else None,
                         mac_address=normalize_mac(static_mac_address) if static_mac_address else new_mac(host),
                         mac_is_static=static_mac_address is not None)
    vm.network_adapters.append(nic)
    host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return _nic_info(vm, nic)


def get_vm_network_adapter(host: HostCore, vm_name: str | None = None) -> list[NetworkAdapterInfo]:
    """Get-VMNetworkAdapter (all VMs when ``vm_name`` is None)."""
    host.check_open()
    vms = [host.vm(vm_name)] if vm_name is not None else host.state.vms
    return [_nic_info(vm, n) for vm in vms for n in vm.network_adapters]


@operation
def set_vm_network_adapter(host: HostCore, vm_name: str, *, name: str | None = None,
                           static_mac_address: str | None = None, dynamic_mac_address: bool = False,
                           test_replica_switch_name: str | None = None) -> list[NetworkAdapterInfo]:
    """Set-VMNetworkAdapter: static/dynamic MAC (VM Off) and the test-failover switch (R-HV-72, R-HV-74)."""
    vm = host.vm(vm_name)
    nics = _nics(vm, name)
    if static_mac_address is not None and dynamic_mac_address:
        raise InvalidParameterError("Give static_mac_address or dynamic_mac_address, not both.")
    if static_mac_address is not None or dynamic_mac_address:
        require_state(vm, "change the MAC address", VMState.OFF)
        for nic in nics:
            if static_mac_address is not None:
                nic.mac_address, nic.mac_is_static = normalize_mac(static_mac_address), True
            elif nic.mac_is_static:
                nic.mac_address, nic.mac_is_static = new_mac(host), False
    if test_replica_switch_name is not None:
        target = find_switch(host, test_replica_switch_name).name if test_replica_switch_name else None
        for nic in nics:
            nic.test_replica_switch_name = target
    host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return [_nic_info(vm, n) for n in nics]


@operation
def connect_vm_network_adapter(host: HostCore, vm_name: str | list[str], *, switch_name: str,
                               name: str | None = None) -> list[NetworkAdapterInfo]:
    """Connect-VMNetworkAdapter: ``vm_name`` is a name or a list of names, without wildcards (R-HV-70)."""
    switch = find_switch(host, switch_name)
    result = []
    for one in [vm_name] if isinstance(vm_name, str) else list(vm_name):
        vm = host.vm(one)
        for nic in _nics(vm, name):
            nic.switch_name = switch.name
            result.append(_nic_info(vm, nic))
        host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return result


@operation
def disconnect_vm_network_adapter(host: HostCore, vm_name: str | list[str], *,
                                  name: str | None = None) -> list[NetworkAdapterInfo]:
    """Disconnect-VMNetworkAdapter."""
    result = []
    for one in [vm_name] if isinstance(vm_name, str) else list(vm_name):
        vm = host.vm(one)
        for nic in _nics(vm, name):
            nic.switch_name = None
            result.append(_nic_info(vm, nic))
        host.apply_genid(vm, GenIdEvent.CONFIG_CHANGE)
    return result


_FAILOVER_KEYS = ("IPv4Address", "IPv4SubnetMask", "IPv4DefaultGateway", "IPv4PreferredDNSServer",
                  "IPv4AlternateDNSServer", "IPv6Address", "IPv6SubnetPrefixLength", "IPv6DefaultGateway",
                  "IPv6PreferredDNSServer", "IPv6AlternateDNSServer")


@operation
def set_vm_network_adapter_failover_configuration(
        host: HostCore, vm_name: str, *, vm_network_adapter_name: str | None = None,
        ipv4_address: str | None = None, ipv4_subnet_mask: str | None = None,
        ipv4_default_gateway: str | None = None, ipv4_preferred_dns_server: str | None = None,
        ipv4_alternate_dns_server: str | None = None, ipv6_address: str | None = None,
        ipv6_subnet_prefix_length: str | None = None, ipv6_default_gateway: str | None = None,
        ipv6_preferred_dns_server: str | None = None, ipv6_alternate_dns_server: str | None = None,
        clear_failover_ipv4_settings: bool = False,
        clear_failover_ipv6_settings: bool = False) -> list[NetworkAdapterInfo]:
    """Set-VMNetworkAdapterFailoverConfiguration (R-HV-73): synthetic adapters of replicated VMs only."""
    vm = host.vm(vm_name)
    if vm.replication is None:
        raise UnsupportedOnHostError(f"'{vm.name}' is not replicated; failover TCP/IP settings apply to "
                                     f"replicated virtual machines only (R-HV-73).")
    if (ipv4_address is None) != (ipv4_subnet_mask is None):
        raise InvalidParameterError("ipv4_address and ipv4_subnet_mask must be given together (R-HV-73).")
    values = dict(zip(_FAILOVER_KEYS, (ipv4_address, ipv4_subnet_mask, ipv4_default_gateway,
                                       ipv4_preferred_dns_server, ipv4_alternate_dns_server, ipv6_address,
                                       ipv6_subnet_prefix_length, ipv6_default_gateway, ipv6_preferred_dns_server,
                                       ipv6_alternate_dns_server), strict=True))
    nics = _nics(vm, vm_network_adapter_name)
    for nic in nics:
        if nic.is_legacy:
            raise InvalidParameterError(f"Adapter '{nic.name}' of '{vm.name}' is a legacy adapter; failover "
                                        f"TCP/IP works on synthetic adapters only (R-HV-73).")
        for prefix, clear in (("IPv4", clear_failover_ipv4_settings), ("IPv6", clear_failover_ipv6_settings)):
            if clear:
                nic.failover_config = {k: v for k, v in nic.failover_config.items() if not k.startswith(prefix)}
        nic.failover_config.update({k: v for k, v in values.items() if v is not None})
    return [_nic_info(vm, n) for n in nics]


