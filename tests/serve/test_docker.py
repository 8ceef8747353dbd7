"""The docker files, checked by construction (no docker engine runs here).

The serve image installs exactly what the shim imports, at the versions of uv.lock,
and copies exactly the files the shim's own imports reach.
"""

import ast
import importlib.metadata
import pathlib
import re
import shutil
import subprocess
import sys
import tomllib

import yaml

ROOT = pathlib.Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
SHIM = ROOT / "playground" / "serve"
#: distribution name -> import name, where they differ
IMPORT_NAMES = {"pyzmq": "zmq"}


def requirements(path: pathlib.Path) -> dict[str, str]:
    pins = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name, version = line.split("==")
            pins[name.strip()] = version.strip()
    return pins


def shim_imports() -> tuple[set[str], set[str], set[str]]:
    """(module-level third-party imports, imports inside functions, playground modules)."""
    top, lazy, local = set(), set(), set()
    for path in SHIM.glob("*.py"):
        tree = ast.parse(path.read_text())
        nested = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.ClassDef))
                  for n in ast.walk(f) if n is not f}
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module]
            else:
                continue
            for name in names:
                root = name.split(".")[0]
                if root == "playground":
                    local.add(name)
                elif root not in sys.stdlib_module_names and root != "__future__":
                    (lazy if id(node) in nested else top).add(root)
    return top, lazy, local


def test_serve_image_installs_exactly_what_the_shim_imports():
    base = requirements(DOCKER / "serve-requirements.txt")
    optional = requirements(DOCKER / "serve-requirements-onnx.txt")
    top, lazy, local = shim_imports()
    assert {IMPORT_NAMES.get(n, n) for n in base} == top == {"numpy", "zmq", "msgpack"}
    assert {IMPORT_NAMES.get(n, n) for n in optional} == lazy - top == {"onnxruntime"}
    # and at the versions the project is tested with: locked, and installed here
    lock = tomllib.loads((ROOT / "uv.lock").read_text())
    for name, version in {**base, **optional}.items():
        assert version in {p["version"] for p in lock["package"] if p["name"] == name}, name
        assert importlib.metadata.version(name) == version, name
    # the shim reaches no playground module outside the files the image copies
    assert all(m == "playground" or m.startswith("playground.serve") for m in local), local


def test_serve_image_copies_only_the_shim(tmp_path):
    dockerfile = (DOCKER / "Dockerfile.serve").read_text()
    copies = re.findall(r"^COPY\s+(\S+)\s+", dockerfile, re.M)
    assert [c for c in copies if c.startswith("playground")] == ["playground/__init__.py",
                                                                   "playground/serve"]
    assert "jax" not in dockerfile.lower().replace("no jax", "")
    # those files alone run the server's CLI
    (tmp_path / "playground").mkdir()
    shutil.copy(ROOT / "playground" / "__init__.py", tmp_path / "playground")
    shutil.copytree(SHIM, tmp_path / "playground" / "serve",
                    ignore=shutil.ignore_patterns("__pycache__"))
    done = subprocess.run(
        [sys.executable, "-c", "import runpy, sys, playground; print(playground.__file__); "
         "sys.argv = ['serve', '--help']; runpy.run_module('playground.serve', run_name='__main__')"],
        cwd=tmp_path, capture_output=True, text=True, env={"PATH": "/usr/bin:/bin"})
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith(str(tmp_path)) and "--bundle" in done.stdout


def test_train_image_and_compose():
    train = (DOCKER / "Dockerfile.train").read_text()
    assert "uv sync --frozen" in train and "--extra cuda" in train and "uv.lock" in train
    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    assert any(dep.startswith("jax[cuda12]") for dep in extras["cuda"])
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    train_svc, serve_svc = compose["services"]["train"], compose["services"]["serve"]
    assert train_svc["build"]["dockerfile"] == "docker/Dockerfile.train"
    assert serve_svc["build"]["dockerfile"] == "docker/Dockerfile.serve"
    assert train_svc["deploy"]["resources"]["reservations"]["devices"][0]["capabilities"] == ["gpu"]
    assert serve_svc["ports"] == ["127.0.0.1:5555:5555"]  # loopback on the host
    assert serve_svc["command"][serve_svc["command"].index("--bind") + 1] == "tcp://0.0.0.0:5555"
    for path in ("pyproject.toml", "uv.lock", "playground", "configs"):
        assert (ROOT / path).exists()  # what the train image copies
