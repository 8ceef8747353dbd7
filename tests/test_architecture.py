"""The import rules of docs/architecture.md, read from the source (imports anywhere in a
module count, inside functions too)."""

import ast
import pathlib
import sys

import pytest

PACKAGE = pathlib.Path(__file__).resolve().parents[1] / "playground"


def imports_of(path: pathlib.Path) -> set[str]:
    """Every module name `path` imports (absolute; relative imports resolved)."""
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts[:-1])
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{parent}.{base}" if base else parent
            names.add(base)
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def modules(under: str) -> list[pathlib.Path]:
    root = PACKAGE / under
    return sorted(root.rglob("*.py")) if root.is_dir() else [root]


def offenders(under: str, forbidden) -> list[str]:
    return [f"{path.relative_to(PACKAGE.parent)} imports {name}"
            for path in modules(under) for name in sorted(imports_of(path)) if forbidden(name)]


def _within(name: str, *prefixes: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in prefixes)


GENERIC_TASK_MODULES = ("playground.tasks.base", "playground.tasks.wrappers",
                        "playground.tasks.registry", "playground.tasks.mjx_compat")


def _specific_task(name: str) -> bool:
    return _within(name, "playground.tasks") and not _within(name, *GENERIC_TASK_MODULES) \
        and name != "playground.tasks"


def _trainer_part(name: str) -> bool:
    """The run loop, reward plug-ins, an algorithm's learner: what a policy needs none of.
    An algorithm's networks build the policy, so those are allowed (the algorithm packages'
    __init__ files import nothing)."""
    parts = name.split(".")
    in_algorithm = _within(name, "playground.algorithms") and len(parts) > 3
    return _within(name, "playground.runner", "playground.rewards", "playground.verify",
                   "playground.compare") or (in_algorithm and parts[3] != "networks")


def test_algorithm_packages_import_nothing_on_their_own():
    """So importing `playground.algorithms.<name>.networks` loads no learner."""
    for init in sorted((PACKAGE / "algorithms").glob("*/__init__.py")) + [PACKAGE / "algorithms" / "__init__.py"]:
        assert imports_of(init) <= {"__future__", "__future__.annotations"}, init


RULES = {
    "serve imports nothing else of the package": (
        "serve", lambda n: _within(n, "playground") and not _within(n, "playground.serve")),
    "tasks import no algorithm and no reward plug-in": (
        "tasks", lambda n: _within(n, "playground.algorithms", "playground.rewards")),
    "algorithms import no specific task": ("algorithms", _specific_task),
    "PPO imports nothing of AMP (nor any reward plug-in)": (
        "algorithms/ppo", lambda n: _within(n, "playground.rewards")),
    "the run loop names no algorithm, task or plug-in": (
        "runner.py", lambda n: _within(n, "playground.algorithms.ppo", "playground.rewards.amp")
        or _specific_task(n)),
    "the unroll and evaluator name no algorithm, task or plug-in": (
        "rollout.py", lambda n: _within(n, "playground.algorithms", "playground.rewards")
        or _specific_task(n)),
    "inference never touches the trainer (play, export, sim2sim)": ("deploy", _trainer_part),
    "the policy loader never touches the trainer": ("policy.py", _trainer_part),
}

#: `python playground/<name>.py`, the documented commands: each only calls playground.cli.<name>
LAUNCHERS = ("train", "play", "export", "sim2sim")


def test_the_library_imports_no_cli():
    library = [path for path in PACKAGE.rglob("*.py")  # `python -m` entry points may
               if path.name != "__main__.py"               # hand over to their CLI
               and path.relative_to(PACKAGE).parts[0] not in ("cli", *(f"{n}.py" for n in LAUNCHERS))]
    found = [f"{path.relative_to(PACKAGE.parent)} imports {name}" for path in library
             for name in sorted(imports_of(path)) if _within(name, "playground.cli")]
    assert len(library) > 50 and found == []


@pytest.mark.parametrize("name", LAUNCHERS)
def test_the_launchers_only_call_their_cli(name):
    assert imports_of(PACKAGE / f"{name}.py") == {
        "pathlib", "sys", f"playground.cli.{name}", f"playground.cli.{name}.main"}


@pytest.mark.parametrize("rule", RULES)
def test_import_rule(rule):
    under, forbidden = RULES[rule]
    assert modules(under), f"{under} is not in the package"
    assert offenders(under, forbidden) == []


def test_the_rules_see_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    """The checker itself: a nested and a relative import are both found."""
    fake = tmp_path / "playground" / "serve"
    fake.mkdir(parents=True)
    (fake / "x.py").write_text("def f():\n    import jax\n    from ..runner import Run\n")
    monkeypatch.setattr(sys.modules[__name__], "PACKAGE", tmp_path / "playground")
    assert imports_of(fake / "x.py") >= {"jax", "playground.runner", "playground.runner.Run"}
    assert offenders("serve", RULES["serve imports nothing else of the package"][1]) == [
        "playground/serve/x.py imports playground.runner",
        "playground/serve/x.py imports playground.runner.Run"]
