PYTHON ?= python3
VENV ?= .venv
# torch and torchvision go in first, as a pair that works together (torchvision is needed by the
# transformers image processors the vision tests compare against). On this kind of machine pip
# takes both from local disk; override TORCH_SPEC for another build (versions or wheel paths).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1

.PHONY: test test-gpu lint run clean system-deps

# Torch goes in first so that the pinned build wins over whatever `torch>=2.6` in
# pyproject.toml would resolve to.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -e ".[dev]"
	touch $@

# Xvfb, Qt's X11 libraries and xdotool (packaging/system-deps.sh lists them; installs as root).
system-deps:
	bash packaging/system-deps.sh

# Format check, lint and type check of core/ and kernels/ (settings in pyproject.toml); it runs
# first in `make test`, so a lint or type error fails the tests.
lint: $(VENV)/.installed
	$(VENV)/bin/ruff format --check core kernels && $(VENV)/bin/ruff check core kernels && $(VENV)/bin/mypy

# pytest's exit code is make's: a failure, or exit 5 ("no tests collected"), fails the target.
test: system-deps $(VENV)/.installed lint
	$(VENV)/bin/python -m pytest -n 2 tests

# For a CUDA machine: with TRITON_INTERPRET unset, tests/conftest.py picks the GPU
# and the kernel tests run compiled kernels instead of the CPU interpreter.
test-gpu: $(VENV)/.installed
	env -u TRITON_INTERPRET $(VENV)/bin/python -m pytest tests/kernels -x

# Without a display the window opens on a virtual one (xvfb-run), and we say so.
run: system-deps $(VENV)/.installed
	@if [ -n "$$DISPLAY$$WAYLAND_DISPLAY" ]; then $(VENV)/bin/spyglass; \
	else echo "make run: no DISPLAY or WAYLAND_DISPLAY; starting Spyglass under xvfb-run -a (nothing will be visible)"; \
	xvfb-run -a $(VENV)/bin/spyglass; fi

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
