"""The parts do not lean on each other: each part's modules, all imported in a fresh interpreter,
load nothing of the parts it must not know.

backend (the API) and simulator meet only in `orbit`, the shared geometry; the dashboard is an
HTTP client of the API and loads neither, nor SQLAlchemy; `orbit` is numpy only; `kazsat`, above
them all, imports a part only inside the command that runs it.

`python tests/test_imports.py` prints the import graph between the parts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

import pytest

from kazsat.stack import ROOT

PARTS = ("backend", "dashboard", "simulator", "orbit", "kazsat", "logsetup")
FORBIDDEN = {
    "backend": {"dashboard", "simulator", "kazsat"},
    "simulator": {"backend", "dashboard", "kazsat"},
    "dashboard": {"backend", "simulator", "kazsat", "sqlalchemy"},
    "orbit": {"backend", "dashboard", "simulator", "kazsat"},
    "logsetup": {"backend", "dashboard", "simulator", "orbit", "kazsat"},
}

# Dash lets a page module register itself only once the app exists: the dashboard's factory
# imports its pages, so they are loaded by calling it rather than imported one by one.
FACTORY = {"dashboard": ("dashboard.app:create_app", "dashboard.pages.")}

# Run in the fresh interpreter: import the named modules one by one ("module:function" also
# calls it) and report, for each top-level package, the step that loaded it first (so a failure
# names the module to blame), and every module loaded in the end.
PROBE = """
import importlib, json, sys
loaded = {name.partition(".")[0] for name in sys.modules}
first = {}
for step in sys.argv[1:]:
    module, _, function = step.partition(":")
    imported = importlib.import_module(module)
    if function:
        getattr(imported, function)()
    now = {name.partition(".")[0] for name in sys.modules}
    first.update({package: step for package in now - loaded})
    loaded = now
print(json.dumps({"first": first, "modules": sorted(sys.modules)}))
"""


def modules_of(part: str) -> list[str]:
    """Every module of a part (a package, or one module of it) from its files; `__main__` runs
    a command, so it is left out."""
    if (ROOT / f"{part.replace('.', '/')}.py").is_file():
        return [part]
    names = []
    for path in sorted((ROOT / part).rglob("*.py")):
        dotted = path.relative_to(ROOT).with_suffix("").parts
        if dotted[-1] == "__main__" or dotted[:2] == ("backend", "migrations"):
            continue  # a command; or files Alembic runs by path when it migrates
        names.append(".".join(dotted[:-1] if dotted[-1] == "__init__" else dotted))
    return names


def first_loaded_by(part: str) -> dict[str, str]:
    """Top-level package -> the first module of the part whose import loaded it, all of the
    part's modules imported in a fresh interpreter (nothing this process imported counts)."""
    modules = modules_of(part)
    steps = modules
    if part in FACTORY:
        factory, imported_by_it = FACTORY[part]
        steps = [m for m in modules if not m.startswith(imported_by_it)] + [factory]
    with tempfile.TemporaryDirectory() as folder:  # what the dashboard's factory writes
        done = subprocess.run([sys.executable, "-c", PROBE, *steps], cwd=folder, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(ROOT),
                                   "KAZSAT_DATA_DIR": folder}, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-3000:]
    answer = json.loads(done.stdout)
    assert not set(modules) - set(answer["modules"]), "not every module of the part was loaded"
    return answer["first"]


@pytest.mark.parametrize("part", sorted(FORBIDDEN))
def test_a_part_loads_nothing_of_the_parts_it_must_not_know(part: str) -> None:
    loaded = first_loaded_by(part)
    wrong = {package: loaded[package] for package in sorted(FORBIDDEN[part] & loaded.keys())}
    assert not wrong, f"{part} loads " + ", ".join(
        f"{package} (first through {module})" for package, module in wrong.items())


def test_orbit_needs_numpy_only() -> None:
    loaded = first_loaded_by("orbit")
    others = {package for package in loaded
              if package not in sys.stdlib_module_names and package not in {"orbit", "numpy"}}
    assert not others, {package: loaded[package] for package in others}


def test_the_kazsat_command_loads_a_part_only_when_it_runs_it() -> None:
    # `kazsat simulate` must not load the API's code, nor `kazsat api` the simulator's.
    loaded = first_loaded_by("kazsat.cli")
    assert not set(PARTS[:4]) & loaded.keys(), loaded


def import_graph() -> dict[str, list[str]]:
    """Part -> the other parts its modules load (all of them imported in one interpreter)."""
    return {part: sorted((set(PARTS) - {part}) & first_loaded_by(part).keys())
            for part in PARTS}


if __name__ == "__main__":
    for part, uses in import_graph().items():
        print(f"{part:10} -> {', '.join(uses) or '(none)'}")
