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

.PHONY: test test-gpu lint run clean system-deps llama-wheel package package-gpu package-test package-gpu-test

# Torch goes in first so that the pinned build wins over whatever `torch>=2.6` in
# pyproject.toml would resolve to.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --upgrade pip
	$(VENV)/bin/python -m pip install $(TORCH_SPEC)
	$(VENV)/bin/python -m pip install -e ".[dev,msa]"
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
# Then the packaged edition is built and its self-test run (package-test, below).
test: system-deps $(VENV)/.installed lint
	$(VENV)/bin/python -m pytest -n 2 tests
	$(MAKE) package-test

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
	rm -rf $(VENV) $(PKG_VENV) $(PKG_GPU_VENV) .pytest_cache .mypy_cache .ruff_cache build dist *.egg-info
	find . -name __pycache__ -type d -prune -exec rm -rf {} +

# Packaged editions (packaging/README.md). The Spyglass edition is frozen from a build venv of its
# own that never sees torch: the project without its `msa` extra, PyInstaller and the SBOM tool,
# and the same llama-cpp-python wheel. pyautogui's GPL helpers (mouseinfo, python3-xlib) are
# removed from it and python-xlib put back, so what is frozen is what the licence check reads.
PKG_VENV ?= .venv-package
comma := ,
PKG_DIST ?= dist

# A build venv: $(1) its folder, $(2) what goes in before the project (torch for the GPU edition),
# $(3) the project's extras.
define build_venv
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install --upgrade pip
	$(if $(2),$(1)/bin/python -m pip install $(2))
	$(1)/bin/python -m pip install -e ".[$(3)]"
	$(1)/bin/python -m pip uninstall -y mouseinfo python3-xlib
	$(1)/bin/python -m pip install --force-reinstall --no-deps "python-xlib>=0.33"
	$(MAKE) llama-wheel
	$(1)/bin/python -m pip install --find-links $(WHEELHOUSE) --only-binary llama-cpp-python \
		llama-cpp-python==$(LLAMA_CPP_VERSION)
	touch $(1)/.installed
endef

$(PKG_VENV)/.installed: pyproject.toml
	$(call build_venv,$(PKG_VENV),,package)

SELFTEST_GGUF = build/selftest/tiny-m3-f32.gguf

# The tiny random GGUF `spyglass --self-test` streams from: written by the dev venv (transformers)
# and llama.cpp's converter, exactly as the tests make theirs; only the .gguf is bundled.
$(SELFTEST_GGUF): packaging/tiny_gguf.py tests/gguf/conftest.py | $(VENV)/.installed
	$(VENV)/bin/python packaging/tiny_gguf.py $@

# The Linux "Spyglass" edition: dist/Spyglass/, its licences, dist/Spyglass.cdx.json and the tar.xz.
package: $(VENV)/.installed $(PKG_VENV)/.installed $(SELFTEST_GGUF)
	packaging/build.sh $(PKG_VENV)/bin/python lite $(SELFTEST_GGUF)

# The bundle as CI checks it: built without the archive, then its self-test run with an empty
# environment (no PATH, no venv, a fresh HOME), so it proves the folder stands alone.
package-test: $(VENV)/.installed $(PKG_VENV)/.installed $(SELFTEST_GGUF)
	packaging/build.sh $(PKG_VENV)/bin/python lite $(SELFTEST_GGUF) --no-archive
	packaging/selftest-bundle.sh dist/Spyglass

# "Spyglass GPU": the same spec with torch (CUDA), Triton and the MSA runtime, from a build venv of
# its own with the `msa` extra and TORCH_SPEC. Not part of CI (several GB; see packaging/README.md).
PKG_GPU_VENV ?= .venv-package-gpu
$(PKG_GPU_VENV)/.installed: pyproject.toml
	$(call build_venv,$(PKG_GPU_VENV),$(TORCH_SPEC),package$(comma)msa)

# The tiny random M3 checkpoint the GPU edition's self-test streams from through our MSA runtime,
# written by the dev venv (transformers) as the tests write theirs; build.sh finds it beside the GGUF.
SELFTEST_MSA = $(dir $(SELFTEST_GGUF))tiny-m3-msa
$(SELFTEST_MSA)/config.json: packaging/tiny_msa.py tests/core/conftest.py | $(VENV)/.installed
	$(VENV)/bin/python packaging/tiny_msa.py $(SELFTEST_MSA)

package-gpu: $(VENV)/.installed $(PKG_GPU_VENV)/.installed $(SELFTEST_GGUF) $(SELFTEST_MSA)/config.json
	packaging/build.sh $(PKG_GPU_VENV)/bin/python gpu $(SELFTEST_GGUF)

# The GPU bundle without the archive, then its self-test under `env -i` (10 checks; without a GPU
# the MSA runtime takes its fp32 reference path and the kernel check runs on Triton's interpreter).
package-gpu-test: $(VENV)/.installed $(PKG_GPU_VENV)/.installed $(SELFTEST_GGUF) $(SELFTEST_MSA)/config.json
	packaging/build.sh $(PKG_GPU_VENV)/bin/python gpu $(SELFTEST_GGUF) --no-archive
	packaging/selftest-bundle.sh dist/Spyglass-GPU
