"""The destination registry: each kind is declared once (zoomwatch/destination_kinds.py) and config
validation, the opener map, the keyring's names and the contract suite all follow that one declaration."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from test_destinations import BACKENDS

from zoomwatch import config as configmod
from zoomwatch import destination_kinds, secrets
from zoomwatch.destination_kinds import KINDS
from zoomwatch.destinations import OPENERS, open_destination
from zoomwatch.errors import ConfigError
from zoomwatch.paths import AppPaths


def settings(tmp: Path, **values: object) -> configmod.Config:
    checked = {name: key.default for name, key in configmod.KEYS.items()}
    checked.update(values)
    return configmod.Config(checked, (), AppPaths(*(tmp / part for part in ("c", "d", "s", "l", "k"))))


def test_every_declared_kind_has_an_opener_and_a_contract_run() -> None:
    assert list(OPENERS) == list(KINDS)
    assert set(BACKENDS) == set(KINDS), "a new kind of destination runs the contract suite too"


def test_config_validates_each_kind_with_its_declaration() -> None:
    assert configmod.DESTINATION_KINDS == tuple(KINDS)
    for name in KINDS:
        assert configmod.check_value("destination.kind", name.upper()) == name
    with pytest.raises(ConfigError):
        configmod.check_value("destination.kind", "ftp")
    for kind in KINDS.values():
        for setting in kind.settings:
            key = configmod.KEYS[setting.key]
            assert (key.default, key.check, key.help) == (setting.default, setting.check, setting.help)
            assert setting.key.startswith(f"destination.{kind.name}."), "a kind's keys live under its name"
            assert configmod.check_value(setting.key, setting.default) == setting.default
    assert {k for k in configmod.KEYS if k.startswith("destination.") and k != "destination.kind"} == \
        {s.key for s in destination_kinds.settings()}, "no destination key is declared outside the registry"


def test_each_declared_secret_is_one_the_keyring_accepts() -> None:
    for kind in KINDS.values():
        for secret in kind.secrets:
            assert secret.name.startswith(f"{kind.name}.")
            secrets._check_name(secret.name)  # raises ConfigError for an unknown name


def test_owner_of_names_the_kind_of_a_setting_or_secret() -> None:
    assert destination_kinds.owner_of("destination.s3.bucket") is KINDS["s3"]
    assert destination_kinds.owner_of("supabase.key") is KINDS["supabase"]
    assert destination_kinds.owner_of("destination.local.path") is KINDS["local"]
    assert destination_kinds.owner_of("watch.folder") is None


@pytest.mark.parametrize("kind", list(KINDS))
def test_each_kind_opens_from_its_required_settings(kind: str, tmp_path: Path) -> None:
    values: dict[str, object] = {"destination.kind": kind, "destination.local.path": str(tmp_path)}
    for setting in KINDS[kind].settings:
        if setting.required:
            values[setting.key] = {"destination.s3.bucket": "team-recordings",
                                   "destination.supabase.url": "https://abcd.supabase.co",
                                   "destination.supabase.bucket": "recordings"}[setting.key]
    dest = open_destination(settings(tmp_path, **values))
    assert type(dest).__module__.startswith("zoomwatch.destinations.") and dest.id.startswith(f"{kind}:")
    assert dest.label


def test_an_unknown_kind_is_a_bad_setting_that_says_what_to_do(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not available") as raised:
        open_destination(settings(tmp_path, **{"destination.kind": "ftp"}))
    assert "destination.kind" in raised.value.message


def test_reading_the_settings_imports_no_destination_code() -> None:
    """config.py reads the registry (pure data), never the destinations' modules or their SDKs."""
    probe = ("import sys, zoomwatch.config, zoomwatch.ui.settings_form; "
             "print(sorted(m for m in sys.modules if m.startswith(('zoomwatch.destinations', 'boto3', 'storage3'))))")
    shown = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    assert shown.stdout.strip() == "[]"
