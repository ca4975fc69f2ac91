"""Virtualized DC cloning (virtualized-dc.md §2; hyperv.md §7).

Files and cmdlets (pure):
    xmlsafe    safe loading of untrusted XML, the XmlTextWriter-style writer
    config     DCCloneConfig.xml: parse (R-XML-01..03), render, search locations (R-CLSTEP-04)
    newconfig  New-ADDCCloneConfigFile: parameters, online checks, the run (R-CFG-01..07)
    allowlist  allow lists, excluded applications, -GenerateXml (R-ALLOW-01..05)
The clone's first boot and the PDC:
    firstboot  the boot-table cases R-BOOT-01/03/04/05/07 (dcemu.guest.boot calls these)
    clone_boot the clone's first boot as a table of steps (R-CLSTEP-01..16)
    locator    finding and binding to the PDC emulator in a lab (R-CLONE-02)
    pdc        IDL_DRSAddCloneDC on the PDC: authorization, names, the new DC objects (R-ACDC)
    promotion  the clone's DIT becomes the new DC's (R-CLSTEP-13)
    events     the cloning event catalogue (§2.9)
In a lab:
    readiness  the cmdlets run against a lab DC
    workflow   the administrator's procedure, step by step (``dcemu clone``)
"""
