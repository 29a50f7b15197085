"""The package's layers (docs/architecture.md): lower layers import nothing from upper
ones. Checked on the import statements themselves (``ast``), function bodies included."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
# folder -> the installed package it becomes (pyproject.toml [tool.setuptools.package-dir])
PACKAGES = {"compiler": "eiegen.compiler", "hw": "eiegen.hw", "sim": "eiegen.sim",
            "boards": "eiegen.boards", "asic": "eiegen.asic", "eiegen": "eiegen"}


def package_of(path: Path) -> str:
    rel = path.relative_to(ROOT)
    return ".".join([PACKAGES[rel.parts[0]], *rel.parts[1:-1]])


def imports(path: Path, package: str) -> set[str]:
    """Every module ``path`` (in ``package``) imports, relative imports resolved."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module
            out.add(mod)
            out.update(f"{mod}.{a.name}" for a in node.names)  # from eiegen import sim
    return out


def offenders(folder: str, forbidden: tuple[str, ...]) -> list[str]:
    files = [ROOT / folder] if folder.endswith(".py") else sorted((ROOT / folder).rglob("*.py"))
    return [f"{p.relative_to(ROOT)}: {m}" for p in files
            for m in sorted(imports(p, package_of(p)))
            if any(m == f or m.startswith(f + ".") for f in forbidden)]


@pytest.mark.parametrize("folder, forbidden", [
    # the compiler knows no HDL and no simulator
    ("compiler", ("eiegen.hw", "eiegen.sim", "eiegen.boards", "eiegen.asic", "amaranth")),
    # the HDL generator does not depend on the simulator
    ("hw", ("eiegen.sim", "eiegen.boards", "eiegen.asic")),
    # the modules below compiler, HDL and simulator: plain Python, nothing above them
    ("eiegen/timing.py", ("eiegen.compiler", "eiegen.hw", "eiegen.sim", "amaranth")),
    ("eiegen/words.py", ("eiegen.compiler", "eiegen.hw", "eiegen.sim", "amaranth")),
    ("eiegen/tools.py", ("eiegen.compiler", "eiegen.hw", "eiegen.sim", "amaranth")),
    ("eiegen/links.py", ("eiegen.compiler", "eiegen.hw", "eiegen.sim", "amaranth")),
])
def test_lower_layers_do_not_import_upper_ones(folder, forbidden):
    assert offenders(folder, forbidden) == []


def test_the_check_sees_relative_and_function_body_imports(tmp_path):
    path = tmp_path / "probe.py"
    path.write_text("def f():\n    from ..sim.golden import run_golden\n"
                    "    from eiegen import hw\n")
    assert imports(path, "eiegen.compiler") >= {"eiegen.sim.golden", "eiegen.hw"}
