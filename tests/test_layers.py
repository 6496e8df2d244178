"""The package layers of docs/dev/ARCHITECTURE.md ("Packages, lowest layer first"): a module may import
from its own layer or a lower one, never from a layer above it. Every import counts, also the ones
inside functions (a lazy import is still a dependency)."""

from __future__ import annotations

import ast
from pathlib import Path

import agcl

#: Lowest first; names are the first component under ``agcl`` (a package or a top-level module).
LAYERS = (
    ("errors", "io", "labels", "logs", "workers"),
    ("paths", "runlock", "fingerprints"),
    ("environment",),
    ("config",),
    ("cam",),
    ("boxes",),
    ("data",),
    ("reports",),
    ("models",),
    ("train",),
    ("evaluation",),
    ("pipeline",),
    ("viz",),
    ("inference",),
    ("commands", "cli", "api", "__init__"),
)
LAYER = {name: i for i, names in enumerate(LAYERS) for name in names}


def _imported(path: Path, module: list[str]) -> set[str]:
    """Dotted names of the agcl modules that a source file imports (absolute and relative)."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = module[:len(module) - node.level + (path.name == "__init__.py")] if node.level else []
            source = ".".join(base + ([node.module] if node.module else []))
            if source == "agcl":  # ``from agcl import x`` / ``from . import x``: x is the module
                out.update(f"agcl.{a.name}" for a in node.names)
            else:
                out.add(source)
    return {n for n in out if n == "agcl" or n.startswith("agcl.")}


def _unit(dotted: str) -> str:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def upward_imports(src: Path) -> tuple[list[str], list[str]]:
    """(imports that go up a layer, modules in no layer) of the package ``src`` (a folder named agcl)."""
    upward, unplaced = [], []
    for path in sorted(src.rglob("*.py")):
        module = ["agcl", *path.relative_to(src).with_suffix("").parts]
        me = _unit(".".join(module))
        if me not in LAYER:
            unplaced.append(".".join(module))
            continue
        for target in sorted(_imported(path, module)):
            other = _unit(target)
            if other not in LAYER:
                unplaced.append(target)
            elif LAYER[other] > LAYER[me]:
                upward.append(f"{'.'.join(module)} imports {target} ({other} is above {me})")
    return upward, unplaced


def test_no_module_imports_from_a_layer_above_it():
    upward, unplaced = upward_imports(Path(agcl.__file__).parent)
    assert not unplaced, f"place these in LAYERS (and in docs/dev/ARCHITECTURE.md): {sorted(set(unplaced))}"
    assert not upward, "\n".join(upward)


def test_the_check_sees_lazy_and_relative_upward_imports(tmp_path):
    pkg = tmp_path / "agcl"
    (pkg / "evaluation").mkdir(parents=True)
    (pkg / "evaluation" / "__init__.py").write_text("from .core import x\n")
    (pkg / "evaluation" / "core.py").write_text(
        "from agcl.boxes import geometry\n\ndef f():\n    from agcl.inference.predictor import load_model\n")
    (pkg / "boxes.py").write_text("from . import labels\nfrom .evaluation import core\n")
    upward, unplaced = upward_imports(pkg)
    assert upward == ["agcl.boxes imports agcl.evaluation (evaluation is above boxes)",
                      "agcl.evaluation.core imports agcl.inference.predictor (inference is above evaluation)"]
    assert unplaced == []
