"""zoomwatch's translation catalogs (zoomwatch/locale): extract the marked text from the code into
zoomwatch.pot, merge it into each language's .po, compile the .mo files the package ships, and check that
nothing is missing. The markers are zoomwatch.i18n's N_, NP_, T_ and TP_ (Babel extracts them; babel.cfg).

    python tools/catalogs.py extract    # the code -> zoomwatch/locale/zoomwatch.pot
    python tools/catalogs.py update     # zoomwatch.pot -> es/ru .po (new strings empty, none fuzzy)
    python tools/catalogs.py compile    # .po -> .mo (what the wheel and the installers ship)
    python tools/catalogs.py check      # what tests/unit/test_i18n_catalogs.py checks, named string by string
    python tools/catalogs.py all        # extract, update, compile, check

The same with Babel's own command (equivalent, for those who prefer it):
    pybabel extract -F babel.cfg -k N_ -k NP_:1,2 -k T_ -k TP_:1,2 --no-default-keywords --no-wrap \\
        --sort-by-file --add-location=file -o zoomwatch/locale/zoomwatch.pot zoomwatch
    pybabel update -i zoomwatch/locale/zoomwatch.pot -d zoomwatch/locale -D zoomwatch --no-fuzzy-matching \\
        --ignore-obsolete --no-wrap
    pybabel compile -d zoomwatch/locale -D zoomwatch --statistics
"""

from __future__ import annotations

import ast
import contextlib
import io
import re
import sys
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract_from_dir
from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po, write_po

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "zoomwatch"
LOCALE = PACKAGE / "locale"
DOMAIN = "zoomwatch"
POT = LOCALE / f"{DOMAIN}.pot"
TRANSLATED = ("es", "ru")  # English is the code itself
KEYWORDS = {"N_": None, "T_": None, "NP_": (1, 2), "TP_": (1, 2)}
PLURAL_MARKERS = ("NP_", "TP_")
FIELD = re.compile(r"(?<!\{)\{([A-Za-z_][A-Za-z0-9_]*)\}")


def po_file(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.po"


def mo_file(language: str) -> Path:
    return LOCALE / language / "LC_MESSAGES" / f"{DOMAIN}.mo"


def extracted() -> Catalog:
    """Every marked string of the package, as Babel extracts it."""
    catalog = Catalog(project="zoomwatch", copyright_holder="zoomwatch authors", charset="utf-8")
    with contextlib.redirect_stderr(io.StringIO()):  # Babel warns of f-strings given as parameters: not text
        found = list(extract_from_dir(str(PACKAGE), method_map=[("**.py", "python")], keywords=KEYWORDS,
                                      comment_tags=("TRANSLATORS:",), strip_comment_tags=True))
    for filename, lineno, message, comments, context in found:
        catalog.add(message, None, [(f"zoomwatch/{filename}", lineno)], auto_comments=comments, context=context)
    return catalog


def unextractable() -> list[str]:
    """Marker calls whose text is not a literal (an f-string, a variable): Babel cannot see them."""
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        if path.name == "i18n.py":  # where the markers are defined
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id in KEYWORDS:
                wanted = 2 if node.func.id in PLURAL_MARKERS else 1
                args = node.args[:wanted]
                if len(args) < wanted or not all(isinstance(a, ast.Constant) and isinstance(a.value, str)
                                                 for a in args):
                    found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {node.func.id}() needs literal text")
    return found


def _write(catalog: Catalog, path: Path, **options: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as handle:
        # file names without line numbers: an edit elsewhere in a file does not change every catalog
        write_po(handle, catalog, width=0, sort_by_file=True, include_lineno=False, **options)  # type: ignore[arg-type]


def extract() -> None:
    _write(extracted(), POT)


def _read(path: Path, language: str | None = None) -> Catalog:
    with path.open("rb") as handle:
        return read_po(handle, locale=language, domain=DOMAIN)


def update() -> None:
    template = _read(POT)
    for language in TRANSLATED:
        path = po_file(language)
        catalog = _read(path, language) if path.exists() else Catalog(locale=language, domain=DOMAIN,
                                                                      project="zoomwatch")
        catalog.update(template, no_fuzzy_matching=True)
        _write(catalog, path, ignore_obsolete=True)


def compiled(language: str) -> bytes:
    out = io.BytesIO()
    write_mo(out, _read(po_file(language), language), use_fuzzy=False)
    return out.getvalue()


def compile_all() -> None:
    for language in TRANSLATED:
        mo_file(language).write_bytes(compiled(language))


def _ids(catalog: Catalog) -> set[object]:
    return {m.id for m in catalog if m.id}


def _show(msgid: object) -> str:
    return repr(msgid[0] if isinstance(msgid, tuple) else msgid)


def problems() -> list[str]:
    """Everything wrong with the catalogs, one line per string: what the CI check fails on."""
    found = unextractable()
    code = _ids(extracted())
    pot = _ids(_read(POT)) if POT.exists() else set()
    found += [f"zoomwatch.pot lacks {_show(m)} (run: python tools/catalogs.py extract update)" for m in code - pot]
    found += [f"zoomwatch.pot still has {_show(m)}, no longer in the code (run: extract update)" for m in pot - code]
    for language in TRANSLATED:
        path = po_file(language)
        if not path.exists():
            found.append(f"{language}: {path.relative_to(ROOT)} is missing (run: python tools/catalogs.py update)")
            continue
        catalog = _read(path, language)
        entries = {m.id: m for m in catalog if m.id}
        for msgid in sorted(code - set(entries), key=_show):
            found.append(f"{language}: no entry for {_show(msgid)} (run: python tools/catalogs.py update)")
        for msgid in sorted(set(entries) - code, key=_show):
            found.append(f"{language}: {_show(msgid)} is no longer in the code (run: update)")
        for msgid, message in sorted(entries.items(), key=lambda e: _show(e[0])):
            if msgid not in code:
                continue
            forms = list(message.string) if isinstance(message.string, tuple | list) else [message.string]
            if message.fuzzy:
                found.append(f"{language}: fuzzy {_show(msgid)}")
            if not all(forms) or (isinstance(msgid, tuple) and len(forms) != catalog.num_plurals):
                found.append(f"{language}: untranslated {_show(msgid)}")
                continue
            wanted = set(FIELD.findall(msgid[0] if isinstance(msgid, tuple) else msgid))
            for form in forms:
                if set(FIELD.findall(form)) - wanted or (not isinstance(msgid, tuple) and
                                                         set(FIELD.findall(form)) != wanted):
                    found.append(f"{language}: {_show(msgid)} translated with other {{fields}}: {form!r}")
        if not mo_file(language).exists() or mo_file(language).read_bytes() != compiled(language):
            found.append(f"{language}: {mo_file(language).relative_to(ROOT)} is stale (run: python tools/catalogs.py "
                         "compile)")
    return found


def main(argv: list[str]) -> int:
    steps = {"extract": [extract], "update": [update], "compile": [compile_all], "check": [],
             "all": [extract, update, compile_all]}
    for name in argv or ["check"]:
        for step in steps[name]:
            step()
    wrong = problems()
    for line in wrong:
        print(line)
    return 1 if wrong and ("check" in argv or "all" in argv or not argv) else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
