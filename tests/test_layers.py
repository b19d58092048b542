"""The package's layers: every import goes to a lower layer (docs/architecture.md), so no cycle can form."""

import ast
from pathlib import Path

import acoustemo

ROOT = Path(acoustemo.__file__).parent

# lowest first; a unit is a subpackage or a top-level module of acoustemo
LAYERS = [
    {"errors"},
    {"io", "yamlio", "utterance", "device", "config"},
    {"media", "encoders", "metrics", "results"},
    {"cache", "asr", "model"},
    {"data"},
    {"corpora", "training"},
    {"inference"},
    {"experiments"},
    {"recipes"},
    {"cli", "__init__"},
]
LAYER = {unit: i for i, units in enumerate(LAYERS) for unit in units}
# within the base layer the order is explicit too
BASE_ORDER = ["errors", "io", "yamlio", "utterance", "device", "config"]


def imports_of(path: Path) -> set[str]:
    """The acoustemo units ``path`` imports (relative or absolute), itself left out."""
    parts = path.relative_to(ROOT).with_suffix("").parts
    unit, package = parts[0], list(parts[:-1])
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package[:len(package) - (node.level - 1)]
            names = (node.module or "").split(".") if node.module else []
            target = (base + names)[:1] or [a.name for a in node.names]
            out.update(target if isinstance(target, list) else [target])
        elif isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("acoustemo."):
            out.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            out.update(a.name.split(".")[1] for a in node.names if a.name.startswith("acoustemo."))
    return {u for u in out if u != unit and u in LAYER}


def test_every_unit_has_a_layer():
    units = {p.relative_to(ROOT).with_suffix("").parts[0] for p in ROOT.rglob("*.py")}
    assert units <= set(LAYER), sorted(units - set(LAYER))


def test_imports_go_only_to_lower_layers():
    wrong = []
    for path in sorted(ROOT.rglob("*.py")):
        unit = path.relative_to(ROOT).with_suffix("").parts[0]
        for target in imports_of(path):
            lower = (BASE_ORDER.index(target) < BASE_ORDER.index(unit) if LAYER[unit] == LAYER[target] == 1
                     else LAYER[target] < LAYER[unit])
            if not lower:
                wrong.append(f"{path.relative_to(ROOT)} imports {target}")
    assert not wrong, wrong
