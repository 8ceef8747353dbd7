# Everything runs from the .venv this Makefile creates (uv, from the committed uv.lock).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-uv/bin/uv)
# The persistent XLA cache shared by every run and test of this checkout.
export PLAYGROUND_CACHE ?= $(HOME)/.cache/playground/jax

.PHONY: install verify test test-fast test-newest test-newest-ci venv-newest venv-ref gpu-wheels lint bench \
	train docs motions demo render-deps clean

$(VENV)-uv/bin/uv:
	$(PYTHON) -m venv $(VENV)-uv
	$(VENV)-uv/bin/pip install -q uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --extra onnx --extra playground --python $(PYTHON)
	touch $@

install: $(VENV)/.installed render-deps

verify: install
	$(PY) playground/train.py --verify

test: install
	$(PY) -m pytest -q --durations=25

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# The product on the newest releases pyproject's ranges allow (jax 0.10.x on Python 3.11),
# not the lock: .venv-newest, rebuilt when pyproject.toml changes (rm -rf it for newer wheels).
NEWEST := .venv-newest
$(NEWEST)/.installed: pyproject.toml | $(UV)
	rm -rf $(NEWEST)
	$(UV) venv -q $(NEWEST) --python $(PYTHON)
	$(UV) pip install -q --python $(NEWEST)/bin/python --resolution highest -e ".[dev,onnx,playground]"
	$(UV) pip list --python $(NEWEST)/bin/python 2>/dev/null | grep -E '^(jax|jaxlib|flax|brax|mujoco|mujoco-mjx|optax|orbax-checkpoint) '
	touch $@

venv-newest: $(NEWEST)/.installed

# The whole suite on the newest releases (as long as `make test`).
test-newest: venv-newest
	$(NEWEST)/bin/python -m pytest -q --durations=25 $(ARGS)

# What CI runs on the newest releases (.ci/run): the code that touches jax, flax, optax and
# orbax APIs directly (networks, losses, checkpoints, export parity, the platform check),
# one learning run (cartpole) and one real short training through the CLI (--verify): a
# few minutes. test_trainer's other trainings (env NaNs, episode cuts) are features, not
# APIs: make test-newest runs them.
NEWEST_CI_TESTS := tests/test_config.py tests/algorithms/ppo/test_losses.py \
	tests/algorithms/ppo/test_networks.py \
	tests/algorithms/ppo/test_trainer.py::test_cartpole_learns_within_30_iterations \
	tests/test_checkpoint.py tests/serve/test_export.py tests/test_platforms.py \
	tests/test_train_cli.py::test_verify_passes_and_leaves_a_complete_run
test-newest-ci: venv-newest
	$(NEWEST)/bin/python -m pytest -q --durations=10 $(NEWEST_CI_TESTS)

# brax's own trainers (benchmark references: vs_brax.py, vs_playground.py) need jax < 0.10:
# .venv-ref holds the pinned set of benchmarks/requirements-ref.txt plus this checkout.
REF := .venv-ref
$(REF)/.installed: benchmarks/requirements-ref.txt | $(UV)
	rm -rf $(REF)
	$(UV) venv -q $(REF) --python $(PYTHON)
	$(UV) pip sync -q --python $(REF)/bin/python benchmarks/requirements-ref.txt
	$(UV) pip install -q --python $(REF)/bin/python --no-deps -e .
	touch $@

venv-ref: $(REF)/.installed

# benchmarks/gpu_check.py on a GPU machine whose Python 3.12 has jax (CUDA), flax, optax and
# orbax but no MuJoCo or brax: the wheels it needs, at .venv's versions, into .whl/ (~18 MB).
# There: python3 -m pip install -q --no-index --no-deps --no-compile --target /tmp/site .whl/*.whl
#        PYTHONPATH=/tmp/site python3 benchmarks/gpu_check.py --out $$OUT
GPU_WHEELS := mujoco mujoco-core mujoco-mjx trimesh brax ml-collections
gpu-wheels: install
	rm -rf .whl && mkdir -p .whl
	$(PYTHON) -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 \
		--implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
		--platform manylinux2014_x86_64 -d .whl $$($(PY) -c "import importlib.metadata as m; \
		print(' '.join(f'{n}=={m.version(n)}' for n in '$(GPU_WHEELS)'.split()))")
	@du -sh .whl && ls .whl

lint: install
	$(PY) -m ruff check playground tests benchmarks
	$(PY) -m pytest -q tests/test_config.py -k docs

bench: install
	$(PY) benchmarks/run_all.py

train: install
	$(PY) playground/train.py $(ARGS)

# Plays the shipped CPU humanoid policy: demo/humanoid_walk_cpu.mp4 (headless MuJoCo renderer)
# and demo/humanoid_walk_cpu_curve.png (return and vx error against env steps and wall time).
demo: install
	MUJOCO_GL=$${MUJOCO_GL:-egl} $(PY) playground/play.py humanoid_walk --agent trained \
		--checkpoint policies/humanoid_walk_cpu --episodes 1 --command 0.3,0,0 \
		--video demo/humanoid_walk_cpu.mp4
	$(PY) benchmarks/humanoid_walk_cpu.py curve --out demo/humanoid_walk_cpu_curve.png

# Headless rendering (play.py --video, its test, make demo) needs EGL + Mesa on Debian:
# part of install, apt-get only when the libraries are missing and only as root.
render-deps:
	@if ! ldconfig -p | grep -q 'libEGL.so.1' || ! ldconfig -p | grep -q 'libGL.so.1'; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && apt-get install -y -qq libegl1 libgl1 libosmesa6; \
		else \
			echo "warning: libEGL/libGL missing; install libegl1 libgl1 (or set MUJOCO_GL=osmesa)"; \
		fi; \
	fi

docs: install
	$(PY) -m playground.config --write-docs docs/config.md

# Regenerate the shipped WildRobot reference clips (run after any change to wildrobot.xml).
motions: install
	$(PY) -m playground.motion.generate --out playground/tasks/assets/wildrobot/motions/

clean:
	rm -rf $(VENV) $(VENV)-uv $(NEWEST) $(REF) .pytest_cache
