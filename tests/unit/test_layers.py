"""The package's layers import only downwards: ui -> app -> sources -> core -> destinations -> the low modules.

The test reads every module's imports (also those inside functions: a lazy import is still an arrow) with
`ast` and fails on any arrow that points up, so the architecture in the README stays the real one."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "zoomwatch"

# highest first; a module's layer is the first prefix that matches its dotted name
LAYERS = [
    ("ui", ("zoomwatch.ui", "zoomwatch.__main__")),
    ("app", ("zoomwatch.app",)),
    ("sources", ("zoomwatch.sources",)),
    ("core", ("zoomwatch.core",)),
    ("destinations", ("zoomwatch.destinations",)),
    ("low", ("zoomwatch",)),  # config, secrets, paths, errors, naming, bandwidth, logsetup, printable
]


def layer_of(module: str) -> int:
    for rank, (_, prefixes) in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return rank
    raise AssertionError(f"{module} is in no layer")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def imports(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("zoomwatch")}
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("zoomwatch"):
            found.add(node.module)
            # `from zoomwatch.ui import tray` names the module zoomwatch.ui.tray
            found |= {f"{node.module}.{a.name}" for a in node.names
                      if (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/")).with_suffix(".py").exists()
                      or (PACKAGE.parent / f"{node.module}.{a.name}".replace(".", "/") / "__init__.py").exists()}
    return found


def upward_imports() -> list[str]:
    wrong = []
    for path in sorted(PACKAGE.rglob("*.py")):
        here = module_name(path)
        for target in sorted(imports(path)):
            if target == "zoomwatch":  # `from zoomwatch import __version__`
                continue
            if layer_of(target) < layer_of(here):
                wrong.append(f"{here} ({LAYERS[layer_of(here)][0]}) imports {target} ({LAYERS[layer_of(target)][0]})")
    return wrong


def test_layers_import_only_downwards() -> None:
    assert upward_imports() == []


def test_the_rule_sees_an_upward_import() -> None:
    """The checker itself catches an arrow pointing up (a core module importing a face)."""
    bad = PACKAGE / "core" / "_layer_probe.py"
    bad.write_text("def f():\n    from zoomwatch.ui import tray\n", encoding="utf-8")
    try:
        assert upward_imports() == ["zoomwatch.core._layer_probe (core) imports zoomwatch.ui (ui)",
                                    "zoomwatch.core._layer_probe (core) imports zoomwatch.ui.tray (ui)"]
    finally:
        bad.unlink()


# The faces see the engine through the facade only: zoomwatch.app and the low, pure modules. Anything a face
# still needs from a deeper layer is listed here with the reason; the list is meant to shrink to nothing.
FACE_ALLOWED = {"zoomwatch", "zoomwatch.app"}
FACE_EXCEPTIONS: dict[tuple[str, str], str] = {}


def face_imports() -> list[str]:
    wrong = []
    for path in sorted((PACKAGE / "ui").rglob("*.py")):
        here = module_name(path)
        for target in sorted(imports(path)):
            if target in FACE_ALLOWED or layer_of(target) in (layer_of("zoomwatch.ui"), layer_of("zoomwatch.config")):
                continue
            if (here, target) not in FACE_EXCEPTIONS:
                wrong.append(f"{here} imports {target}: a face goes through zoomwatch.app")
    return wrong


def test_faces_import_only_the_facade_and_the_low_modules() -> None:
    assert face_imports() == []


@pytest.mark.parametrize("module", ["zoomwatch.core.status", "zoomwatch.app.engine"])
def test_the_face_rule_sees_a_face_reaching_past_the_facade(module: str) -> None:
    """A face imports zoomwatch.app's names; the engine below it, and the modules of the zoomwatch.app package
    itself (engine.py, queries.py, ...), are out of reach, so the parts can move without a face noticing."""
    bad = PACKAGE / "ui" / "_face_probe.py"
    bad.write_text(f"def f():\n    from {module} import Something\n", encoding="utf-8")
    try:
        assert face_imports() == [f"zoomwatch.ui._face_probe imports {module}: a face goes through zoomwatch.app"]
    finally:
        bad.unlink()
