# Everything runs from the .venv this Makefile creates (uv, from the committed uv.lock).
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
UV := $(shell command -v uv 2>/dev/null || echo $(VENV)-uv/bin/uv)
# The persistent XLA cache shared by every run and test of this checkout.
export PLAYGROUND_CACHE ?= $(HOME)/.cache/playground/jax

.PHONY: install verify test test-fast lint bench train docs motions clean

$(VENV)-uv/bin/uv:
	$(PYTHON) -m venv $(VENV)-uv
	$(VENV)-uv/bin/pip install -q uv

$(VENV)/.installed: pyproject.toml uv.lock | $(UV)
	$(UV) sync --frozen --extra dev --extra onnx --python $(PYTHON)
	touch $@

install: $(VENV)/.installed

verify: install
	$(PY) playground/train.py --verify

test: install
	$(PY) -m pytest -q

test-fast: install
	$(PY) -m pytest -q -m "not slow"

lint: install
	$(PY) -m ruff check playground tests benchmarks
	$(PY) -m pytest -q tests/test_config.py -k docs

bench: install
	$(PY) benchmarks/run_all.py

train: install
	$(PY) playground/train.py $(ARGS)

docs: install
	$(PY) -m playground.config --write-docs docs/config.md

# Regenerate the shipped WildRobot reference clips (run after any change to wildrobot.xml).
motions: install
	$(PY) -m playground.motion.generate --out playground/envs/assets/wildrobot/motions/

clean:
	rm -rf $(VENV) $(VENV)-uv .pytest_cache
