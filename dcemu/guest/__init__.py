"""The Windows guest in a VM: what the Hyper-V host powers on, saves, resumes and turns off.

Who owns what: dcguest.py (``DcGuest``: the guest's DC lifecycle; the only writer of its ``mode``, through
``start_ntds``/``stop``/``enter_dsrm``/``become_member_server``), boot.py (the boot decision table
R-BOOT-01..07 and the GenID checks at NTDS start; dcemu.cloning registers the cloning cases into it),
safeguards.py (the GenID cache comparisons and the 2012 safeguards, R-GENID/R-SAFE), system.py (registry,
services, boot flags, installed software).  The guest sees its host only through
dcemu.hyperv.hardware.VirtualHardware, and never imports dcemu.cloning (tests/test_architecture.py).
"""
