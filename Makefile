# Everything runs from the .venv this Makefile creates (uv, from the committed uv.lock).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-uv/bin/uv)
# The persistent XLA cache shared by every run and test of this checkout.
export PLAYGROUND_CACHE ?= $(HOME)/.cache/playground/jax

.PHONY: install verify test test-fast lint bench train docs motions demo render-deps clean

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
	rm -rf $(VENV) $(VENV)-uv .pytest_cache
