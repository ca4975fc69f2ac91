"""Shared pieces of the DCCloneConfig.xml tests (reading, R-XML; writing, R-CFG)."""

from __future__ import annotations

from pathlib import Path

import pytest

from dcemu.cloning.config import EVENT_CONFIG_PARSE_FAILED, FILE_NAME, CloneConfigError, parse_clone_config

NS = 'xmlns:d3c="uri:microsoft.com:schemas:DCCloneConfig"'
CRLF = "\r\n"
V6 = "2002:4898:e0:31fc:d61:2b0a:c9c9:2ccc"


def write(tmp_path: Path, text: str | bytes, name: str = FILE_NAME) -> Path:
    path = tmp_path / name
    path.write_bytes(text.encode("utf-8") if isinstance(text, str) else text)
    return path


def config_xml(body: str) -> str:
    return f'<?xml version="1.0"?>\n<d3c:DCCloneConfig {NS}>\n{body}\n</d3c:DCCloneConfig>\n'


def expect_29249(path: Path) -> CloneConfigError:
    with pytest.raises(CloneConfigError) as info:
        parse_clone_config(path)
    assert info.value.event_id == EVENT_CONFIG_PARSE_FAILED == 29249
    assert info.value.file == str(path)
    return info.value
