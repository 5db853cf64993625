PYTHON ?= python3
VENV ?= .venv
# torch and torchvision go in first, as a pair that works together (torchvision is needed by the
# transformers image processors the vision tests compare against). On this kind of machine pip
# takes both from local disk; override TORCH_SPEC for another build (versions or wheel paths).
TORCH_SPEC ?= torch==2.14.1 torchvision==0.29.1
# llama-cpp-python (the GGUF engine) is built from source once, as a portable CPU build, and the
# wheel is kept in a wheelhouse outside the checkout, so later `make` runs and CI's fresh clones on
# this machine reuse it (about 5 minutes the first time on 2 cores). The source distribution stays
# beside it: the tests take llama.cpp's GGUF converter from it. For CUDA or Metal builds, see README.
LLAMA_CPP_VERSION ?= 0.3.36
WHEELHOUSE ?= $(or $(XDG_CACHE_HOME),$(HOME)/.cache)/spyglass/wheels
LLAMA_CMAKE_ARGS ?= -DGGML_NATIVE=OFF -DLLAMA_BUILD_TESTS=OFF -DLLAMA_BUILD_EXAMPLES=OFF
LLAMA_SDIST = $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION).tar.gz
export SPYGLASS_WHEELHOUSE := $(WHEELHOUSE)

.PHONY: test test-gpu lint run clean system-deps llama-wheel

# Torch goes in first so that the pinned build wins over whatever `torch>=2.6` in
# pyproject.toml would resolve to.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -e ".[dev]"
	@# pyautogui's mouseinfo pulls python3-xlib, an old fork that writes the same Xlib package as
	@# python-xlib: reinstall python-xlib last so its files are the ones in place, whatever the order.
	$(VENV)/bin/python -m pip install --force-reinstall --no-deps "python-xlib>=0.33"
	$(MAKE) llama-wheel
	$(VENV)/bin/python -m pip install --find-links $(WHEELHOUSE) --only-binary llama-cpp-python \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $@

# The portable llama-cpp-python wheel, built only when the wheelhouse lacks it.
llama-wheel:
	@mkdir -p $(WHEELHOUSE)
	@[ -f $(LLAMA_SDIST) ] || $(PYTHON) -m pip download --no-deps --no-binary :all: \
		llama-cpp-python==$(LLAMA_CPP_VERSION) -d $(WHEELHOUSE)
	@ls $(WHEELHOUSE)/llama_cpp_python-$(LLAMA_CPP_VERSION)-*.whl >/dev/null 2>&1 || { \
		echo "building llama-cpp-python $(LLAMA_CPP_VERSION) (portable CPU build, about 5 minutes)"; \
		CMAKE_ARGS="$(LLAMA_CMAKE_ARGS)" $(PYTHON) -m pip wheel --no-deps $(LLAMA_SDIST) -w $(WHEELHOUSE); }

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
