"""Mutation testing of the core modules: how many small faults their own tests catch.

Each mutant changes one thing in one module (a comparison or arithmetic operator swapped,
an integer constant moved by one, a condition negated, ``and``/``or`` swapped, a
statement replaced by ``pass``) and runs the module's own test file against it, in a
copy of the repository (never in the working tree: others edit it). A mutant is
*killed* if a test fails or the run passes its timeout (a mutant that loops forever is
caught by the time limit, which CI would hit too), *survived* otherwise. The sample is
deterministic: ``--per-module`` mutants per module drawn with ``--seed`` from all the
mutants the operators give, in source order.

A survivor is either a gap in the tests or *equivalent* (no input can tell it from the
original). ``EQUIVALENT`` below names every survivor judged equivalent, by module, the
source line and the change, with the reason; the table counts them apart and lists the
rest.

    python bench/mutation/run.py                  # all seven modules, 40 mutants each
    python bench/mutation/run.py --module compiler/balance.py --per-module 0   # all

Prints a table (module, mutants, killed, equivalent, %, survivors) and writes
``bench/results/mutation.json``.
"""

from __future__ import annotations

import argparse
import ast
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from pathlib import Path
from eiegen.safeio import atomic_write_text  # beside and rename

ROOT = Path(__file__).resolve().parents[2]

# module -> its own test file
MODULES = {
    "compiler/balance.py": "tests/test_compiler_balance.py",
    "compiler/huffman.py": "tests/test_compiler_huffman.py",
    "compiler/encode.py": "tests/test_compiler_encode.py",
    "eiegen/fixedpoint.py": "tests/test_fixedpoint.py",
    "sim/cycle_model.py": "tests/test_sim_cycle_model.py",
    # changed most often by others: run last, on whatever is there
    "compiler/formats.py": "tests/test_compiler_formats.py",
    "sim/golden.py": "tests/test_sim_golden.py",
}

# The repository's folders as the installed package maps them (pyproject.toml
# package-dir): the copy gets symlinks eiegen/<name> -> <folder> so that PYTHONPATH
# pointing at the copy imports the copy, ahead of the editable install's finder.
SUBPACKAGES = {"compiler": "compiler", "hw": "hw", "sim": "sim", "boards": "boards",
               "asic": "asic"}

# (module, stripped source line, change) -> why no input can tell the mutant apart. Where
# one line has several mutants with the same change, a fourth element names the mutated
# expression as ast.unparse writes it and its column in the stripped line (``Mutant.expr``),
# e.g. "len(srt) - 1 at 32".
_NEG_RESHAPE = "numpy takes any negative size as the unknown one: reshape(-2) is reshape(-1)"
_MAX_INITIAL = ("max(initial=1) differs from max(initial=0) only when every value is 0 "
                "(or there are none), and both are then below 256: the same dtype")
_MAX_INITIAL_DOWN = ("max(initial=-1) differs from max(initial=0) only when there are no "
                     "values (they are >= 0), and -1 and 0 are both below 256: the same dtype")
_EMPTY_STREAM = ("the general path packs no bits into b'' and counts 0 for an empty stream "
                 "too")
_ENTRY_0 = ("entry 0 always starts a column (new_column[0] is True): prev[0] is set to -1 "
            "below")
EQUIVALENT: dict[tuple[str, ...], str] = {
    ("compiler/balance.py",
     "for cand in (np.clip(at - 1, 0, len(srt) - 1), np.clip(at, 0, len(srt) - 1)):",
     "- -> +", "len(srt) - 1 at 32"):
        "the first clip's upper bound: at = searchsorted(...) <= len(srt), so at - 1 <= "
        "len(srt) - 1 already and a bound of len(srt) + 1 clips nothing either",
    ("compiler/balance.py", "if q == p or gap <= 1 or not assigned[q]:", "<= -> <"):
        "with a gap of 1 no integer move m has 0 < m < 1: the skipped PE offers no swap",
    ("compiler/balance.py", "new_max = np.where((moved > 0) & (moved < gap),", "< -> <="):
        "moving exactly the gap swaps the two loads: the pair's new max is loads[p] itself, "
        "which the `new_max[i] < loads[p]` test below refuses as it refuses the sentinel "
        "(and a valid move, below loads[p], still wins the argmin)",
    ("compiler/balance.py",
     "max_swaps = 4 * sum(map(len, assigned)) if max_swaps is None else max_swaps", "4 -> 3"):
        "a safety bound: every swap lowers the sum of squared loads by >= 2, and no input "
        "needs 3 swaps per row (none of the property tests' comes near)",
    ("compiler/balance.py",
     "loads = np.array([int(row_work[rows].sum()) if rows else 0 for rows in assigned])",
     "0 -> 1"):
        "a PE without rows (the last ones) is the busiest only when every other load is 0; "
        "the gap is then 1, which offers no swap, so _refine stops as before",
    ("compiler/huffman.py", "code = 0", "Assign deleted"):
        "code is 0 already before the first used symbol",
    ("compiler/huffman.py", "s = np.asarray(symbols, dtype=np.int64).reshape(-1)", "1 -> 2"):
        _NEG_RESHAPE,
    ("compiler/huffman.py", "if total == 0:", "0 -> -1"):
        _EMPTY_STREAM,
    ("compiler/huffman.py", 'return b"", 0', "Return deleted"):
        _EMPTY_STREAM,
    ("compiler/huffman.py", "if total == 0:", "If deleted"):
        _EMPTY_STREAM,
    ("compiler/huffman.py", "@dataclass(frozen=True, eq=False)", "False -> True"):
        "nothing compares HuffmanStream/HuffmanLayer objects with ==",
    ("compiler/huffman.py", "vdt = np.uint8 if v_all.max(initial=0) < 256 else np.uint16",
     "0 -> 1"): _MAX_INITIAL,
    ("compiler/huffman.py", "vdt = np.uint8 if v_all.max(initial=0) < 256 else np.uint16",
     "0 -> -1"): _MAX_INITIAL_DOWN,
    ("compiler/encode.py", "vdt = np.uint8 if vals.max(initial=0) < 256 else np.uint16",
     "0 -> 1"): _MAX_INITIAL,
    ("compiler/encode.py", "prev[0:1] = -1", "Assign deleted"):
        _ENTRY_0,
    ("compiler/encode.py", "prev[0:1] = -1", "1 -> 0"):
        _ENTRY_0,
    ("compiler/encode.py", "prev[0:1] = -1", "0 -> 1"):
        _ENTRY_0,
    ("compiler/encode.py", "return max(0, (n_out - pe + n_pe - 1) // n_pe)", "0 -> -1"):
        "for a PE that exists (0 <= pe < n_pe) and n_out >= 0 the numerator is >= 0, so the "
        "quotient is >= 0 and max(-1, .) == max(0, .); only a PE index >= n_out + n_pe (no "
        "such PE: every caller passes k in range(n_pe)) tells them apart",
    ("eiegen/fixedpoint.py", "return ((int(x) + half) % (1 << bits)) - half", "+ -> -"):
        "x - half and x + half differ by 2 * half = 2**bits, a multiple of the modulus: "
        "the same residue mod 2**bits",
    ("eiegen/fixedpoint.py", "return ((x + half) & ((1 << bits) - 1)) - half", "+ -> -"):
        "x - half and x + half differ by 2**bits, so their low bits (the mask) agree; an "
        "int64 overflow wraps mod 2**64, a multiple of 2**bits, and changes none of them",
    ("compiler/formats.py", "signed_inputs = bool((x < 0).any())", "0 -> 1"):
        "with no negative input x_neg = minimum(x, 0) is all zeros, so the two extra products "
        "add only (signed) zeros to up and down (codebooks are finite): the same bounds",
    ("sim/golden.py", "* int(lens.max(initial=0)) + int(np.abs(m.bias).max(initial=0)))",
     "0 -> -1"): "only an empty layer has no maximum; its bound is then the bias's either way",
    ("sim/golden.py", "chunk = max(1, (1 << 22) // max(1, len(m.rows)))", "22 -> 21"):
        "the chunk size bounds memory only: every chunk computes the same sums",
    ("sim/golden.py",
     "bound = (int(np.abs(m.weights).max(initial=0)) * int(np.abs(a).max(initial=0))",
     "0 -> -1", "0 at 75"):
        "|a| >= 0, so initial=-1 differs only for no activations at all (an empty batch or "
        "no inputs), where no row has a product: both bounds are then at most the bias's "
        "(< 2**55), below 2**62, and the same path runs on nothing",
    ("sim/golden.py", "chunk = max(1, (1 << 22) // max(1, len(m.rows)))", "// -> *"):
        "the chunk size bounds memory only: one chunk of the whole batch gives the same sums",
    ("sim/golden.py", "chunk = max(1, (1 << 22) // max(1, len(m.rows)))", "<< -> >>"):
        "1 >> 22 is 0, so every chunk is one input vector (max(1, 0)): the same sums, slower",
    ("sim/golden.py", "outs.append(a[:, 0] if single else a.T)", "0 -> -1"):
        "a single input vector is a batch of one column: a[:, -1] is a[:, 0]",
    ("sim/golden.py", "exact = bound < 1 << 62", "1 -> 0"):
        "every row then takes the ordered loop, which gives the same sums (slower)",
    ("sim/golden.py", "exact = bound < 1 << 62", "1 -> 2"):
        "int64 prefix sums wrap modulo 2**64 and their differences stay exact while each "
        "row's true partial sums (bound < 2**63) fit in int64",
}

_CMP_SWAP = {ast.Lt: ast.LtE, ast.LtE: ast.Lt, ast.Gt: ast.GtE, ast.GtE: ast.Gt,
             ast.Eq: ast.NotEq, ast.NotEq: ast.Eq, ast.Is: ast.IsNot, ast.IsNot: ast.Is,
             ast.In: ast.NotIn, ast.NotIn: ast.In}
_BIN_SWAP = {ast.Add: ast.Sub, ast.Sub: ast.Add, ast.Mult: ast.FloorDiv,
             ast.Div: ast.Mult, ast.FloorDiv: ast.Mult, ast.Mod: ast.FloorDiv,
             ast.LShift: ast.RShift, ast.RShift: ast.LShift, ast.BitAnd: ast.BitOr,
             ast.BitOr: ast.BitAnd, ast.BitXor: ast.BitOr, ast.Pow: ast.Mult}
_SYMBOL = {ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">=", ast.Eq: "==",
           ast.NotEq: "!=", ast.Is: "is", ast.IsNot: "is not", ast.In: "in",
           ast.NotIn: "not in", ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/",
           ast.FloorDiv: "//", ast.Mod: "%", ast.LShift: "<<", ast.RShift: ">>",
           ast.BitAnd: "&", ast.BitOr: "|", ast.BitXor: "^", ast.Pow: "**",
           ast.And: "and", ast.Or: "or"}
# statements whose deletion is a meaningful fault (not docstrings, imports, defs)
_DELETABLE = (ast.Assign, ast.AugAssign, ast.AnnAssign, ast.Expr, ast.Raise, ast.Return,
              ast.If, ast.For, ast.While, ast.Assert, ast.Continue, ast.Break)


@dataclass
class Mutant:
    module: str
    index: int  # position in the module's full mutant list
    line: int
    change: str
    source: str  # the original line, stripped
    expr: str = ""  # the mutated expression and its column, "" for a statement
    status: str = ""  # killed / survived / timeout / equivalent
    seconds: float = 0.0
    reason: str = ""  # why equivalent


def _skip(node, parents) -> bool:
    """Docstrings, __all__, annotations and default values are not behaviour."""
    for p in parents:
        if isinstance(p, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__all__"
                                             for t in p.targets):
            return True
        if isinstance(p, (ast.arg, ast.AnnAssign)) and node is getattr(p, "annotation", None):
            return True
    return False


def _sites(tree):
    """Yield (path, kind, detail) for every mutation of ``tree``; path locates the node
    by the chain of (field, index) from the module."""
    def walk(node, path, parents):
        yield node, path, parents
        for field, value in ast.iter_fields(node):
            if isinstance(value, list):
                for i, v in enumerate(value):
                    if isinstance(v, ast.AST):
                        yield from walk(v, path + ((field, i),), parents + (node,))
            elif isinstance(value, ast.AST):
                yield from walk(value, path + ((field, None),), parents + (node,))

    for node, path, parents in walk(tree, (), ()):
        if _skip(node, parents) or isinstance(node, ast.JoinedStr) or _skip(None, (node,)):
            continue
        if any(isinstance(p, (ast.JoinedStr, ast.AnnAssign)) or
               (isinstance(p, ast.arg)) for p in parents):
            continue
        if isinstance(node, ast.Compare):
            for i, op in enumerate(node.ops):
                if type(op) in _CMP_SWAP:
                    yield path, "cmp", i
        elif isinstance(node, (ast.BinOp, ast.AugAssign)) and type(node.op) in _BIN_SWAP:
            yield path, "bin", None
        elif isinstance(node, ast.BoolOp):
            yield path, "boolop", None
        elif isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.Not):
            yield path, "unnot", None
        elif isinstance(node, ast.Constant) and type(node.value) is int:
            yield path, "const", +1
            yield path, "const", -1
        elif isinstance(node, ast.Constant) and type(node.value) is bool:
            yield path, "bool", None
        if isinstance(node, (ast.If, ast.While, ast.IfExp)):
            yield path, "negate", None
        if isinstance(node, _DELETABLE) and not (
                isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)) and not (
                isinstance(node, ast.AnnAssign) and node.value is None):  # a declaration
            yield path, "delete", None


def _locate(tree, path):
    node = tree
    for field, i in path:
        node = getattr(node, field) if i is None else getattr(node, field)[i]
    return node


def _apply(tree, path, kind, detail) -> str:
    """Mutate a copy of ``tree`` at ``path``; return the change's description."""
    node = _locate(tree, path)
    if kind == "cmp":
        old = type(node.ops[detail])
        node.ops[detail] = _CMP_SWAP[old]()
        return f"{_SYMBOL[old]} -> {_SYMBOL[_CMP_SWAP[old]]}"
    if kind == "bin":
        old = type(node.op)
        node.op = _BIN_SWAP[old]()
        return f"{_SYMBOL[old]} -> {_SYMBOL[_BIN_SWAP[old]]}"
    if kind == "boolop":
        old = type(node.op)
        node.op = ast.Or() if old is ast.And else ast.And()
        return f"{_SYMBOL[old]} -> {'or' if old is ast.And else 'and'}"
    if kind == "unnot":
        parent_path, (field, i) = path[:-1], path[-1]
        parent = _locate(tree, parent_path)
        if i is None:
            setattr(parent, field, node.operand)
        else:
            getattr(parent, field)[i] = node.operand
        return "not x -> x"
    if kind == "const":
        old = node.value
        node.value = old + detail
        return f"{old} -> {old + detail}"
    if kind == "bool":
        node.value = not node.value
        return f"{not node.value} -> {node.value}"
    if kind == "negate":
        node.test = ast.UnaryOp(op=ast.Not(), operand=node.test)
        return f"{type(node).__name__.lower()} condition negated"
    if kind == "delete":
        parent_path, (field, i) = path[:-1], path[-1]
        parent = _locate(tree, parent_path)
        getattr(parent, field)[i] = ast.Pass()
        return f"{type(node).__name__} deleted"
    raise ValueError(kind)


def enumerate_mutants(module: str, text: str) -> list:
    tree = ast.parse(text)
    lines = text.splitlines()
    out = []
    for path, kind, detail in _sites(tree):
        node = _locate(tree, path)
        line = getattr(node, "lineno", 0)
        src = lines[line - 1] if line else ""
        col = node.col_offset - (len(src) - len(src.lstrip())) if line else 0
        expr = f"{ast.unparse(node)} at {col}" if isinstance(node, ast.expr) else ""
        out.append((path, kind, detail, line, lines[line - 1].strip() if line else "", expr))
    return out


def mutant_text(text: str, site) -> tuple[str, str]:
    tree = ast.parse(text)
    path, kind, detail = site[:3]
    change = _apply(tree, path, kind, detail)
    ast.fix_missing_locations(tree)
    return ast.unparse(tree), change


def make_copy(dest: Path, tree: str = "worktree") -> Path:
    """A copy of the repository's sources and tests, importable as ``eiegen``: the
    working tree as it is, or (``tree="head"``) the last commit."""
    if tree == "head":
        dest.mkdir(parents=True)
        archive = subprocess.run(["git", "archive", "HEAD"], cwd=ROOT, check=True,
                                 capture_output=True).stdout
        subprocess.run(["tar", "-x", "-C", str(dest)], input=archive, check=True)
        return _link_packages(dest)
    ignore = shutil.ignore_patterns(".git", ".venv", "__pycache__", ".hypothesis",
                                    ".pytest_cache", "sim_build*", "bench",
                                    "*.egg-info", "build", "demo-report", "out")
    shutil.copytree(ROOT, dest, ignore=ignore, symlinks=True)
    return _link_packages(dest)


def _link_packages(dest: Path) -> Path:
    for name, folder in SUBPACKAGES.items():
        if (dest / folder).is_dir() and not (dest / "eiegen" / name).exists():
            (dest / "eiegen" / name).symlink_to(Path("..") / folder)
    return dest


def run_tests(copy_dir: Path, test_file: str, timeout: float) -> tuple[str, float]:
    env = dict(os.environ, PYTHONPATH=str(copy_dir), PYTHONDONTWRITEBYTECODE="1")
    shutil.rmtree(copy_dir / ".hypothesis", ignore_errors=True)  # no replayed failures
    start = time.monotonic()
    try:
        proc = subprocess.run([sys.executable, "-m", "pytest", "-x", "-q",
                               "-p", "no:cacheprovider", test_file],
                              cwd=copy_dir, env=env, capture_output=True, text=True,
                              timeout=timeout)
    except subprocess.TimeoutExpired:
        return "timeout", time.monotonic() - start
    took = time.monotonic() - start
    if proc.returncode == 0:
        return "survived", took
    if proc.returncode in (1,):
        return "killed", took
    # 2-5: collection/usage errors (a mutant that breaks the import is killed too)
    return "killed", took


def check_imports_copy(copy_dir: Path) -> None:
    env = dict(os.environ, PYTHONPATH=str(copy_dir))
    got = subprocess.run([sys.executable, "-c",
                          "import eiegen.compiler.balance as m; print(m.__file__)"],
                         cwd=copy_dir, env=env, capture_output=True, text=True).stdout
    if not got.strip().startswith(str(copy_dir)):
        raise SystemExit(f"the copy does not shadow the install: eiegen imports {got!r}")


def run_module(module: str, per_module: int, seed: int, workers: list, log) -> dict:
    test_file = MODULES[module]
    text = (workers[0] / module).read_text()
    sites = enumerate_mutants(module, text)
    rng = random.Random(f"{seed}:{module}")
    chosen = sorted(rng.sample(range(len(sites)), per_module)
                    if 0 < per_module < len(sites) else range(len(sites)))
    # the unmutated tests must pass in the copy, and set the time limit
    base_status, base_s = run_tests(workers[0], test_file, 600)
    if base_status != "survived":
        raise SystemExit(f"{test_file} fails on the unmutated {module}: fix that first")
    timeout = 3 * base_s + 20
    mutants = []
    for i in chosen:
        try:
            mtext, change = mutant_text(text, sites[i])
        except Exception as e:  # a mutation the unparser refuses: skip, say so
            log(f"  skipped {module} #{i}: {e}")
            continue
        mutants.append((i, mtext, change))

    def one(job):
        k, (i, mtext, change) = job
        wdir = workers[k % len(workers)]
        line, src, expr = sites[i][3], sites[i][4], sites[i][5]
        target = wdir / module
        original = target.read_text()
        target.write_text(mtext)
        try:
            status, took = run_tests(wdir, test_file, timeout)
        finally:
            target.write_text(original)
        m = Mutant(module, i, line, change, src, expr, status, round(took, 2))
        reason = EQUIVALENT.get((module, src, change, expr)) or \
            EQUIVALENT.get((module, src, change))
        if status == "survived" and reason:
            m.status, m.reason = "equivalent", reason
        log(f"  {module}:{line} {change:<28} {m.status}")
        return m

    # worker k only ever touches copy k: group jobs so no two run in one copy at once
    results = []
    jobs = list(enumerate(mutants))
    with ThreadPoolExecutor(len(workers)) as pool:
        for batch in range(0, len(jobs), len(workers)):
            results += list(pool.map(one, jobs[batch:batch + len(workers)]))
    killed = sum(m.status in ("killed", "timeout") for m in results)
    equivalent = sum(m.status == "equivalent" for m in results)
    n = len(results)
    return {"module": module, "test_file": test_file, "sites": len(sites), "mutants": n,
            "killed": killed, "equivalent": equivalent,
            "score": round(100 * killed / max(1, n - equivalent), 1),
            "baseline_s": round(base_s, 2), "timeout_s": round(timeout, 1),
            "results": [asdict(m) for m in results]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--module", action="append", choices=sorted(MODULES),
                    help="only this module (repeatable); default all seven")
    ap.add_argument("--per-module", type=int, default=40,
                    help="mutants sampled per module (0: all)")
    ap.add_argument("--seed", type=int, default=2024)
    ap.add_argument("--jobs", type=int, default=1, help="mutants run at once (copies)")
    ap.add_argument("--tree", choices=("worktree", "head"), default="worktree",
                    help="mutate the working tree as it is, or the last commit")
    ap.add_argument("--json", type=Path, default=ROOT / "bench" / "results" / "mutation.json")
    args = ap.parse_args(argv)
    modules = [m for m in MODULES if not args.module or m in args.module]
    with tempfile.TemporaryDirectory(prefix="eiegen-mut-") as tmp:
        workers = [make_copy(Path(tmp) / f"w{k}", args.tree) for k in range(max(1, args.jobs))]
        check_imports_copy(workers[0])
        rows = []
        for module in modules:
            print(f"{module}:", flush=True)
            rows.append(run_module(module, args.per_module, args.seed, workers,
                                   lambda s: print(s, flush=True)))
    print()
    print(f"{'module':<22} {'mutants':>7} {'killed':>6} {'equiv':>5} {'score':>6}  survivors")
    for r in rows:
        surv = [f"{m['line']}: {m['change']}" for m in r["results"]
                if m["status"] == "survived"]
        print(f"{r['module']:<22} {r['mutants']:>7} {r['killed']:>6} {r['equivalent']:>5} "
              f"{r['score']:>5}%  {'; '.join(surv) or '-'}")
    total = sum(r["mutants"] - r["equivalent"] for r in rows)
    killed = sum(r["killed"] for r in rows)
    print(f"{'all':<22} {sum(r['mutants'] for r in rows):>7} {killed:>6} "
          f"{sum(r['equivalent'] for r in rows):>5} {100 * killed / max(1, total):>5.1f}%")
    for r in rows:
        for m in r["results"]:
            if m["status"] == "survived":
                print(f"  survivor {r['module']}:{m['line']} ({m['change']}): {m['source']}")
    args.json.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_text(args.json, json.dumps({"seed": args.seed, "tree": args.tree, "per_module": args.per_module,
                                     "modules": rows}, indent=1) + "\n")
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
