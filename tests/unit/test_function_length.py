"""No function in spinegui/ is longer than 80 lines (def to last line, decorators excluded), so that
long functions, once cut, stay cut."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
LIMIT = 80


def long_functions(source: str, path: str, limit: int = LIMIT) -> list[tuple[str, str, int, int]]:
    """(path, name, first line, length) of every function or method in `source` over `limit` lines."""
    found = []
    for node in ast.walk(ast.parse(source, filename=path)):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = node.end_lineno - node.lineno + 1
            if length > limit:
                found.append((path, node.name, node.lineno, length))
    return found


def _function(name: str, lines: int, indent: str = "", prefix: str = "def") -> str:
    body = "".join(f"{indent}    x{i} = {i}\n" for i in range(lines - 1))
    return f"{indent}{prefix} {name}():\n{body}"


def test_the_check_finds_long_functions_methods_and_nested_ones():
    source = (_function("short", LIMIT)  # exactly at the limit: allowed
              + _function("long", LIMIT + 1)
              + "class C:\n" + _function("method", LIMIT + 1, "    ", prefix="async def")
              + "def outer():\n" + _function("inner", LIMIT + 1, "    "))
    found = {(name, length) for _, name, _, length in long_functions(source, "x.py")}
    assert found == {("long", LIMIT + 1), ("method", LIMIT + 1), ("inner", LIMIT + 1), ("outer", LIMIT + 2)}


def test_no_function_in_spinegui_is_over_80_lines():
    files = sorted((ROOT / "spinegui").rglob("*.py"))
    assert len(files) > 50, "spinegui/ not found where expected"
    too_long = []
    for f in files:
        rel = f.relative_to(ROOT).as_posix()
        too_long += long_functions(f.read_text(encoding="utf-8"), rel)
    assert not too_long, "cut these into named pieces of at most ~60 lines:\n" + "\n".join(
        f"  {path}:{line} {name} ({length} lines)" for path, name, line, length in too_long)
