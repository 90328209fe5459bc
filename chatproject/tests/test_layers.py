"""The apps stack one way: accounts <- rooms <- messaging <- notifications.

Read from the source with `ast`, so an import inside a function counts as much as one at
the top of a module. Nothing is exempt: tests and migrations belong to their app too (a
test that needs a higher app's behaviour lives in that app's tests or uses testsupport).
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
LAYERS = ["accounts", "rooms", "messaging", "notifications"]
# chatproject is the ground every app may use; these of its modules combine the apps and
# are used only by the wiring (urls, asgi), never by an app.
TOP = ["chatproject.composition", "chatproject.urls", "chatproject.asgi"]
# Helpers that use every app, for every app's tests (and only tests).
TEST_SUPPORT = "testsupport"
# The ground itself uses no app (else an app importing it would import upwards); these
# of its modules are the wiring and the top, and its tests exercise everything.
GROUND_EXCEPTIONS = {"composition", "urls", "asgi", "tests"}


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) for every absolute import in the file, wherever it sits."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append((node.lineno, node.module))
            # `from chatproject import composition` names the package in the alias.
            found += [(node.lineno, f"{node.module}.{alias.name}") for alias in node.names]
    return found


def _is(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def layer_violations(root: Path) -> list[str]:
    problems = []
    for rank, app in enumerate(LAYERS):
        for path in sorted((root / app).rglob("*.py")):
            forbidden = LAYERS[rank + 1 :] + TOP
            if "tests" not in path.relative_to(root / app).parts:
                forbidden.append(TEST_SUPPORT)
            problems += _check(root, path, app, forbidden)
    for path in sorted((root / "chatproject").rglob("*.py")):
        if Path(path.relative_to(root / "chatproject").parts[0]).stem not in GROUND_EXCEPTIONS:
            problems += _check(root, path, "ground", [*LAYERS, *TOP, TEST_SUPPORT])
    return problems


def _check(root: Path, path: Path, layer: str, forbidden: list[str]) -> list[str]:
    problems, seen = [], set()
    for line, module in imported_modules(path):
        other = next((other for other in forbidden if _is(module, other)), None)
        if other is not None and (line, other) not in seen:
            seen.add((line, other))
            problems.append(f"{path.relative_to(root)}:{line} ({layer}) imports {module}")
    return problems


def test_apps_import_only_apps_below_them():
    assert layer_violations(ROOT) == []


@pytest.mark.parametrize(
    ("app", "source", "needle"),
    [
        ("rooms", "def f():\n    from notifications.services import notify_invitation\n", "notifications.services"),
        ("accounts", "import messaging.models\n", "messaging.models"),
        ("messaging", "from chatproject.composition import layout\n", "chatproject.composition"),
        ("rooms", "import notifications\n", "notifications"),
    ],
)
def test_an_upward_import_is_caught_even_inside_a_function(tmp_path, app, source, needle):
    for name in [*LAYERS, "chatproject"]:
        (tmp_path / name).mkdir()
    (tmp_path / app / "tests").mkdir()
    (tmp_path / app / "tests" / "test_x.py").write_text(source)
    [problem] = layer_violations(tmp_path)
    assert f"({app}) imports {needle}" in problem


def test_the_ground_and_app_code_may_not_use_the_top_or_test_helpers(tmp_path):
    for name in [*LAYERS, "chatproject"]:
        (tmp_path / name).mkdir()
    (tmp_path / "chatproject" / "realtime.py").write_text("from rooms.models import Room\n")
    (tmp_path / "messaging" / "services.py").write_text("from testsupport.factories import send\n")
    assert [p.split(" ", 1)[1] for p in layer_violations(tmp_path)] == [
        "(messaging) imports testsupport.factories",
        "(ground) imports rooms.models",
    ]


def test_downward_imports_and_tests_using_testsupport_are_fine(tmp_path):
    for name in [*LAYERS, "chatproject"]:
        (tmp_path / name).mkdir()
    (tmp_path / "rooms" / "tests").mkdir()
    (tmp_path / "notifications" / "services.py").write_text("from rooms.models import Room\nimport accounts\n")
    (tmp_path / "rooms" / "tests" / "test_x.py").write_text("from testsupport.factories import send\n")
    (tmp_path / "chatproject" / "errors.py").write_text("import django\n")
    (tmp_path / "chatproject" / "urls.py").write_text("import notifications.api.urls\n")
    assert layer_violations(tmp_path) == []
