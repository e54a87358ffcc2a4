"""The import loops issue 13 removed stay removed (auth ↔ web/security, api/common ↔ api/slots)."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "schedule_service"


def _imported(module: str) -> set[str]:
    """Every schedule_service module ``module`` imports, at module level or inside a function."""
    path = PACKAGE.joinpath(*module.split(".")[1:]).with_suffix(".py")
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found


@pytest.mark.parametrize(
    ("low", "high"),
    [
        ("schedule_service.auth", "schedule_service.web.security"),
        ("schedule_service.web.api.common", "schedule_service.web.api.slots"),
    ],
)
def test_the_lower_module_does_not_import_the_higher_one(low, high):
    assert high not in _imported(low), f"{low} imports {high}, which imports it: an import loop"
