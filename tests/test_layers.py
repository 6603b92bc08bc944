"""Layering: every import in ``lab`` points downhill (docs/ARCHITECTURE.md), found by parsing each module's source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

# Lower rank = lower layer. A module may import a module of a lower rank, or one of its own unit (lab.training.x ->
# lab.training.y). Units of the same rank never import each other.
RANKS: dict[str, int] = {
    "lab.pooling": 0,
    "lab.bidirectional": 0,
    "lab.tiny": 0,
    "lab.browser": 0,
    "lab.atomic": 0,
    "lab.inputs": 0,
    "lab.memory": 0,
    "lab.distributed": 0,
    "lab.packages": 0,
    "lab.notebook": 0,  # notebook display helpers: quiet cells, static figures
    "lab.batch": 1,
    "lab.models": 1,
    "lab.adapters": 2,
    "lab.data": 2,  # corpora cache under lab.models' cache folder
    "lab.variants": 3,
    "lab.templates": 3,
    "lab.encoder": 4,
    "lab.analysis": 5,
    "lab.corpus_encode": 5,  # streams a corpus through an encoder, shard by shard, in every process
    "lab.training": 6,
    "lab.probing": 6,
    "lab.evaluation": 5,  # measures an encoder; training evaluates on STS-B dev
    "lab.explore": 6,
    "lab.export": 6,  # a sentence-transformers folder with the evaluation suite's prompts
    "lab.app": 7,  # the page (Gradio): one builder per tab over lab.explore; only app.py imports it
    "lab.commands": 7,
    "lab.cli": 8,
    "lab.__main__": 9,
    "lab": 10,  # the package's __init__ re-exports the public API
}


# Known exceptions, each with the reason and the way out. Keep this list empty where possible.
EXCEPTIONS: dict[tuple[str, str], str] = {
    ("lab.encoder", "lab.export"): "LLM2Vec.save(format='sentence-transformers') delegates lazily to lab.export; "
    "the way out is a save command in lab/commands that calls lab.export directly",
}


def unit_of(module: str) -> str:
    """The most specific entry of ``RANKS`` that ``module`` belongs to."""
    parts = module.split(".")
    for end in range(len(parts), 0, -1):
        if ".".join(parts[:end]) in RANKS:
            return ".".join(parts[:end])
    raise AssertionError(f"{module} is in no layer of tests/test_layers.py: add it to RANKS")


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of the ``lab`` package or the top-level ``app``, nested ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return [(line, name) for line, name in found if name == "app" or name == "lab" or name.startswith("lab.")]


def violations() -> list[str]:
    bad = []
    for path in sorted((ROOT / "lab").rglob("*.py")):
        module = module_name(path)
        unit = unit_of(module)
        for line, target in imports(path):
            where = f"{path.relative_to(ROOT)}:{line} imports {target}"
            if target == "app":
                bad.append(f"{where} (the app sits above the library)")
                continue
            target_unit = unit_of(target)
            if (target_unit == unit and unit != "lab") or (unit, target_unit) in EXCEPTIONS:
                continue
            if RANKS[target_unit] >= RANKS[unit]:
                bad.append(f"{where} (layer {RANKS[target_unit]} from layer {RANKS[unit]})")
    return bad


def test_every_import_points_downhill():
    assert violations() == []


def test_the_checker_catches_an_uphill_import(tmp_path, monkeypatch):
    """The rule itself: an encoder that imported the trainers, or a trainer that imported the prober, is reported."""
    assert RANKS[unit_of("lab.training.mntp")] > RANKS[unit_of("lab.encoder")]
    fake_root = tmp_path
    (fake_root / "lab" / "training").mkdir(parents=True)
    (fake_root / "lab" / "encoder.py").write_text("def f():\n    from lab.training.mntp import IGNORE_INDEX\n")
    (fake_root / "lab" / "training" / "x.py").write_text("import lab.probing.features\nimport app\n")
    monkeypatch.setitem(globals(), "ROOT", fake_root)
    found = violations()
    assert any("lab/encoder.py:2 imports lab.training.mntp" in v for v in found)
    assert any("imports lab.probing.features (layer 6 from layer 6)" in v for v in found)
    assert any("imports app" in v for v in found)


UI_ONLY = {"gradio": "lab.app"}  # a UI framework is imported by the page's package only: the library runs without it


def ui_violations(root: Path = ROOT) -> list[str]:
    """Imports of a UI framework outside its one home (``lab/app``), nested imports included."""
    bad = []
    for path in sorted((root / "lab").rglob("*.py")):
        module = module_name(path) if root == ROOT else ".".join(path.relative_to(root).with_suffix("").parts)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                home = UI_ONLY.get(name.split(".")[0])
                if home and not (module == home or module.startswith(home + ".")):
                    bad.append(f"{path.relative_to(root)}:{node.lineno} imports {name} (only {home} may)")
    return bad


def test_gradio_is_imported_by_the_page_package_only(tmp_path):
    assert ui_violations() == []
    (tmp_path / "lab" / "explore").mkdir(parents=True)
    (tmp_path / "lab" / "app").mkdir()
    (tmp_path / "lab" / "explore" / "x.py").write_text("def f():\n    import gradio as gr\n")
    (tmp_path / "lab" / "app" / "tab.py").write_text("import gradio as gr\nfrom gradio import Blocks\n")
    assert ui_violations(tmp_path) == ["lab/explore/x.py:2 imports gradio (only lab.app may)"]


def test_no_library_module_is_over_400_lines():
    long = {
        str(p.relative_to(ROOT)): n
        for p in (ROOT / "lab").rglob("*.py")
        if (n := len(p.read_text().splitlines())) > 400
    }
    assert long == {}


TRAINERS = ("lab.training.mntp", "lab.training.simcse", "lab.training.supervised")  # one module per training task


def training_violations() -> list[str]:
    """Config dataclasses defined outside ``lab/training/config.py``, and trainers that import another trainer."""
    bad = []
    for path in sorted((ROOT / "lab" / "training").glob("*.py")):
        module = module_name(path)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if module != "lab.training.config" and isinstance(node, ast.ClassDef) and node.name.endswith("Config"):
                bad.append(f"{path.relative_to(ROOT)}:{node.lineno} defines {node.name} (configs live in config.py)")
        for line, target in imports(path):
            if module in TRAINERS and target in TRAINERS and target != module:
                bad.append(f"{path.relative_to(ROOT)}:{line} imports {target} (trainers import shared modules only)")
    return bad


def test_every_training_config_lives_in_config_py_and_no_trainer_imports_another():
    assert training_violations() == []


def test_the_training_rule_catches_a_stray_config_and_a_sideways_import(tmp_path, monkeypatch):
    (tmp_path / "lab" / "training").mkdir(parents=True)
    (tmp_path / "lab" / "training" / "supervised.py").write_text(
        "from lab.training.simcse import load_sentences\n\n\nclass SupervisedConfig:\n    pass\n"
    )
    monkeypatch.setitem(globals(), "ROOT", tmp_path)
    assert training_violations() == [
        "lab/training/supervised.py:4 defines SupervisedConfig (configs live in config.py)",
        "lab/training/supervised.py:1 imports lab.training.simcse (trainers import shared modules only)",
    ]
