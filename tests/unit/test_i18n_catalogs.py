"""The CI check of the translation catalogs (issue 16): the marked text is extracted from the code again and
compared with zoomwatch/locale. It fails, naming each string, when one is missing from zoomwatch.pot or from a
language's .po, is untranslated or fuzzy in Spanish or Russian, is translated with other {fields}, or when a
.mo no longer matches its .po. The fix is in each line: `python tools/catalogs.py extract update compile`, then
translate what `check` names."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def load_tool(root: Path = ROOT):  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location(f"catalogs_{abs(hash(root))}", root / "tools" / "catalogs.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


def test_every_string_in_the_code_is_in_the_catalogs_and_translated() -> None:
    problems = load_tool().problems()
    assert problems == [], "translation catalogs out of date:\n" + "\n".join(problems)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """A copy of the package, the tool and the catalogs, to break on purpose."""
    shutil.copytree(ROOT / "zoomwatch", tmp_path / "zoomwatch", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "tools", tmp_path / "tools", ignore=shutil.ignore_patterns("__pycache__"))
    return tmp_path


def test_the_check_names_a_new_string_missing_from_the_catalogs(copy: Path) -> None:
    tray = copy / "zoomwatch" / "ui" / "tray.py"
    tray.write_text(tray.read_text(encoding="utf-8").replace('item(T_("Quit")', 'item(T_("Quit now")'),
                    encoding="utf-8")
    problems = load_tool(copy).problems()
    assert "zoomwatch.pot lacks 'Quit now' (run: python tools/catalogs.py extract update)" in problems
    assert "es: no entry for 'Quit now' (run: python tools/catalogs.py update)" in problems
    assert "ru: no entry for 'Quit now' (run: python tools/catalogs.py update)" in problems


def test_after_update_the_check_names_the_untranslated_string_and_a_fuzzy_one(copy: Path) -> None:
    tray = copy / "zoomwatch" / "ui" / "tray.py"
    tray.write_text(tray.read_text(encoding="utf-8").replace('item(T_("Quit")', 'item(T_("Quit now")'),
                    encoding="utf-8")
    tool = load_tool(copy)
    tool.extract()
    tool.update()
    po = tool.po_file("es")
    text = po.read_text(encoding="utf-8")
    po.write_text(text.replace('msgid "Save"\nmsgstr "Guardar"', '#, fuzzy\nmsgid "Save"\nmsgstr "Guardar"'),
                  encoding="utf-8")
    problems = tool.problems()
    assert "es: untranslated 'Quit now'" in problems and "ru: untranslated 'Quit now'" in problems
    assert "es: fuzzy 'Save'" in problems
    assert any(line.startswith("es: zoomwatch/locale/es/LC_MESSAGES/zoomwatch.mo is stale") for line in problems)
    assert not any("'Quit'" in line for line in problems), problems  # the old string left the catalogs cleanly


def test_the_check_names_a_translation_that_loses_a_field_and_text_babel_cannot_extract(copy: Path) -> None:
    po = copy / "zoomwatch" / "locale" / "ru" / "LC_MESSAGES" / "zoomwatch.po"
    po.write_text(po.read_text(encoding="utf-8").replace('msgstr "Порт {port} занят"', 'msgstr "Порт занят"'),
                  encoding="utf-8")
    cli = copy / "zoomwatch" / "ui" / "cli.py"
    cli.write_text(cli.read_text(encoding="utf-8").replace('print(T_("not signed in to Zoom"))',
                                                           'print(T_(f"not signed in to {cli}"))'), encoding="utf-8")
    problems = load_tool(copy).problems()
    assert "ru: 'Port {port} is busy' translated with other {fields}: 'Порт занят'" in problems
    assert any(line.startswith("zoomwatch/ui/cli.py:") and "T_() needs literal text" in line for line in problems)
