"""The house rules that a reading of the code can check (issue 17).

- no function outside ``convcli/commands/`` is longer than 80 lines of code (its
  docstring, blank lines and comment lines aside);
- nothing imports from ``convcli.commands`` but ``convcli/cli.py`` (and the commands
  themselves);
- a public function (or method) with three or more parameters outside ``commands/``
  documents them in a numpydoc ``Parameters`` section.

Every file keeps all three: a function that grows past the limit, a new import of a
command, or an undocumented parameter list fails here.
"""

from __future__ import annotations

import ast
import io
import tokenize
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent / "convcli"
MAX_LINES = 80


def _code_lines(source: str) -> set[int]:
    """The line numbers that hold code (not blank, not only a comment)."""
    lines: set[int] = set()
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type in (tokenize.COMMENT, tokenize.NL, tokenize.NEWLINE, tokenize.INDENT,
                          tokenize.DEDENT, tokenize.ENDMARKER):  # fmt: skip
            continue
        lines.update(range(token.start[0], token.end[0] + 1))
    return lines


def _docstring_lines(node: ast.AST) -> set[int]:
    body = getattr(node, "body", [])
    if (
        body
        and isinstance(body[0], ast.Expr)
        and isinstance(body[0].value, ast.Constant)
        and isinstance(body[0].value.value, str)
    ):
        return set(range(body[0].lineno, (body[0].end_lineno or body[0].lineno) + 1))
    return set()


def function_lengths(source: str) -> dict[str, int]:
    """Lines of code of every function (methods as ``Class.name``; nested functions
    count in their parent too), docstrings, blank lines and comments aside.

    >>> function_lengths('def f(x):\\n    \"\"\"Doc.\"\"\"\\n\\n    # why\\n    return x\\n')
    {'f': 2}
    """
    code = _code_lines(source)
    lengths: dict[str, int] = {}

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                span = set(range(child.lineno, (child.end_lineno or child.lineno) + 1))
                lengths[prefix + child.name] = len((span & code) - _docstring_lines(child))
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(source), "")
    return lengths


def _package_files() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _name(path: Path) -> str:
    return path.relative_to(PACKAGE).as_posix()


def test_the_checker_counts_code_lines_only() -> None:
    body = "\n".join(f"    x{i} = {i}" for i in range(81))
    source = f'def long():\n    """Doc,\n\n    long."""\n    # a comment\n\n{body}\n'
    assert function_lengths(source) == {"long": 82}  # the def line and 81 statements
    nested = "class A:\n    def m(self):\n        def inner():\n            return 1\n"
    nested += "        return inner()\n"
    assert function_lengths(nested) == {"A.m": 4, "A.m.inner": 2}


def test_no_function_outside_commands_is_over_80_lines() -> None:
    too_long = {}
    for path in _package_files():
        name = _name(path)
        if name.startswith("commands/"):
            continue
        for function, length in function_lengths(path.read_text(encoding="utf-8")).items():
            if length > MAX_LINES:
                too_long[f"{name}:{function}"] = length
    assert too_long == {}


def _is_commands(module: str, names: list[str], level: int) -> bool:
    if level:  # relative: from .commands import x, from . import commands
        return module.split(".")[0] == "commands" or (not module and "commands" in names)
    if module == "convcli":
        return "commands" in names
    return module.split(".")[:2] == ["convcli", "commands"]


def _imports_commands(source: str) -> list[int]:
    """Line numbers of imports from ``convcli.commands`` (absolute or relative)."""
    lines = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.ImportFrom):
            names = [alias.name for alias in node.names]
            found = _is_commands(node.module or "", names, node.level)
        elif isinstance(node, ast.Import):
            found = any(_is_commands(a.name, [], 0) for a in node.names)
        else:
            continue
        if found:
            lines.append(node.lineno)
    return lines


def test_imports_of_commands_are_caught() -> None:
    source = (
        "import os\nfrom convcli.commands.shape import x\nfrom convcli import commands\n"
        "import convcli.commands.draw\nfrom .commands import y\nfrom . import commands\n"
        "from convcli.commandsx import z\n"
    )
    assert _imports_commands(source) == [2, 3, 4, 5, 6]
    assert _imports_commands("from convcli.render import shape\n") == []


def test_only_cli_imports_from_commands() -> None:
    offenders = {}
    for path in _package_files():
        name = _name(path)
        if name == "cli.py" or name.startswith("commands/"):
            continue
        lines = _imports_commands(path.read_text(encoding="utf-8"))
        if lines:
            offenders[name] = lines
    assert offenders == {}


def undocumented(source: str) -> list[str]:
    """Public functions and methods (not nested in a function) with three or more
    parameters (``self``/``cls`` aside) and no ``Parameters`` section.

    >>> undocumented("def f(a, b, c):\\n    'Doc.'\\n\\ndef g(a, b):\\n    pass\\n")
    ['f']
    """
    found = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                args = child.args
                names = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs]]
                names += [a.arg for a in (args.vararg, args.kwarg) if a is not None]
                count = len([n for n in names if n not in ("self", "cls")])
                public = not child.name.startswith("_") and not prefix.startswith("_")
                doc = ast.get_docstring(child) or ""
                if public and count >= 3 and "Parameters\n----------" not in doc:
                    found.append(prefix + child.name)

    visit(ast.parse(source), "")
    return found


def test_public_functions_document_their_parameters() -> None:
    missing = {}
    for path in _package_files():
        name = _name(path)
        if name.startswith("commands/"):
            continue
        functions = undocumented(path.read_text(encoding="utf-8"))
        if functions:
            missing[name] = functions
    assert missing == {}
