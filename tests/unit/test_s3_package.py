"""destinations/s3/ is a package without an import circle (issue 12 item 1): the arrows run one way,
__init__ -> multipart -> common; neither multipart nor common imports the package's __init__ (not even
for type checking) and common imports neither of the others."""

from __future__ import annotations

import ast
from pathlib import Path

import zoomwatch.destinations.s3 as s3_package

S3 = Path(s3_package.__file__).parent
PACKAGE = "zoomwatch.destinations.s3"


def imported_modules(path: Path) -> set[str]:
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            if node.level:  # relative: resolve against the package
                found.add(f"{PACKAGE}.{node.module}" if node.level == 1 else node.module)
            else:
                found.add(node.module)
                found |= {f"{node.module}.{alias.name}" for alias in node.names}
    return {name for name in found if name == PACKAGE or name.startswith(PACKAGE + ".")}


def test_multipart_imports_only_common_from_the_package() -> None:
    assert imported_modules(S3 / "multipart.py") <= {f"{PACKAGE}.common", *(
        f"{PACKAGE}.common.{name}" for name in dir(__import__(f"{PACKAGE}.common", fromlist=["x"])))}


def test_common_imports_nothing_from_the_package() -> None:
    assert imported_modules(S3 / "common.py") == set()


def test_the_package_reexports_what_callers_use() -> None:
    from zoomwatch.destinations.s3 import MAX_PARTS, MultipartUpload, common, multipart, part_size_for, translate

    assert (MAX_PARTS, part_size_for, translate) == (common.MAX_PARTS, common.part_size_for, common.translate)
    assert MultipartUpload is multipart.MultipartUpload
