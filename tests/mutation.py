"""A bounded mutation run: how many small deliberate bugs the offline tests catch.

One mutant at a time, in a scratch copy of the repository; the offline tests (no network, no real
TensorFlow) run against each and a mutant counts as killed when they fail. Mutants: comparison swaps
(< <=, > >=, == !=, in / not in, is / is not), and <-> or, `not x` -> `bool(x)`, an int n -> n+1, a
float x -> x*10, True <-> False.

    .tools/bin/python -m tests.mutation TEST_FILE... -- FILE[:func,func] ...

prints SURVIVED lines and one SCORE line per target (killed/total). It is slow by design (one
pytest run per mutant): keep the scope to a few functions.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SWAP: dict[type, type] = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt, ast.Eq: ast.NotEq,
                          ast.NotEq: ast.Eq, ast.In: ast.NotIn, ast.NotIn: ast.In, ast.Is: ast.IsNot, ast.IsNot: ast.Is}


def _nodes(tree: ast.AST, funcs: set[str] | None) -> Iterator[ast.AST]:
    if funcs is None:
        yield from ast.walk(tree)
        return
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and node.name in funcs:
            yield from ast.walk(node)


def _sites(tree: ast.AST, funcs: set[str] | None) -> list[tuple[ast.AST, int]]:
    out: list[tuple[ast.AST, int]] = []
    for node in _nodes(tree, funcs):
        if isinstance(node, ast.Compare):
            out += [(node, i) for i, op in enumerate(node.ops) if type(op) in SWAP]
        elif isinstance(node, ast.BoolOp) or (isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not)):
            out.append((node, 0))
        elif isinstance(node, ast.Constant) and type(node.value) in (int, float, bool):
            out.append((node, 0))
    return out


class _Unnot(ast.NodeTransformer):
    def __init__(self, target: ast.AST) -> None:
        self.target = target

    def visit_UnaryOp(self, node: ast.UnaryOp) -> ast.AST:
        self.generic_visit(node)
        if node is self.target:
            return ast.Call(ast.Name("bool", ast.Load()), [node.operand], [])
        return node


def mutants(source: str, funcs: set[str] | None) -> Iterator[tuple[int, str, str]]:
    """(line, description, mutated source) for every mutation site in scope."""
    for k in range(len(_sites(ast.parse(source), funcs))):
        tree = ast.parse(source)
        node, i = _sites(tree, funcs)[k]
        line = getattr(node, "lineno", 0)
        if isinstance(node, ast.Compare):
            old = node.ops[i]
            node.ops[i] = SWAP[type(old)]()
            desc = "%s->%s" % (type(old).__name__, type(node.ops[i]).__name__)
        elif isinstance(node, ast.BoolOp):
            desc = "and->or" if isinstance(node.op, ast.And) else "or->and"
            node.op = ast.Or() if isinstance(node.op, ast.And) else ast.And()
        elif isinstance(node, ast.UnaryOp):
            desc = "not x->x"
            tree = _Unnot(node).visit(tree)
        else:
            assert isinstance(node, ast.Constant)
            value = node.value
            bumped = value + 1 if isinstance(value, int) else value * 10
            node.value = (not value) if isinstance(value, bool) else bumped
            desc = "%r->%r" % (value, node.value)
        yield line, desc, ast.unparse(ast.fix_missing_locations(tree))


def main(argv: list[str]) -> int:
    if "--" not in argv:
        print(__doc__, file=sys.stderr)
        return 2
    tests, targets = argv[:argv.index("--")], argv[argv.index("--") + 1:]
    with tempfile.TemporaryDirectory() as scratch:
        work = Path(scratch) / "repo"
        shutil.copytree(ROOT, work, ignore=shutil.ignore_patterns(".git", ".venv*", ".tools", "*_cache"))
        for target in targets:
            path, _, names = target.partition(":")
            funcs = set(names.split(",")) if names else None
            file = work / path
            original = file.read_text()
            killed = total = 0
            try:
                for line, desc, mutated in mutants(original, funcs):
                    file.write_text(mutated)
                    done = subprocess.run([sys.executable, "-m", "pytest", "-q", "-x", "-p", "no:cacheprovider",
                                           "-m", "not network and not slow", *tests], cwd=work,
                                          capture_output=True, text=True, timeout=600)
                    total += 1
                    killed += done.returncode != 0
                    if done.returncode == 0:
                        print("SURVIVED %s:%d %s" % (path, line, desc), flush=True)
            finally:
                file.write_text(original)
            print("SCORE %s: %d/%d killed" % (target, killed, total), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
