# Two commands set up everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
# MovieLens 100K: the GroupLens archive or its extracted folder. Empty means
# tensorflow-datasets downloads it (needs the network).
DATA ?= $(EDGERANK_DATA)
# Tests always run on the real archive; beside the checkout is where CI keeps it.
TEST_DATA ?= $(or $(DATA),$(wildcard ../shared/datasets/ml-100k.zip))
ARTIFACTS ?= artifacts
# -qq: pip's errors only (-q still shows the build backend's warnings).
PIP_QUIET ?= -qq

VENV := .venv
LITERT_VENV := .venv-litert
TFLITE_VENV := .venv-tflite

# Each suite's pytest: xdist spreads the tests over both cores, a file per worker at a time, so that a
# file's module fixtures are built once (PYTEST_WORKERS=0 runs them in one process).
PYTEST_WORKERS ?= 2
PYTEST_XDIST = $(if $(filter 0,$(PYTEST_WORKERS)),,-n $(PYTEST_WORKERS) --dist loadfile)
PYTEST_FLAGS ?= --durations=30

.PHONY: demo test test-fast test-unit test-integration test-edge test-edge-litert test-edge-tflite test-pi \
	install venvs clean

install: $(VENV)/.installed

# The three environments; `make -j3 venvs` installs them at the same time.
venvs: $(VENV)/.installed $(LITERT_VENV)/.installed $(TFLITE_VENV)/.installed

# Trainer environment: TensorFlow, TFRS, ScaNN, tfds, LiteRT, matplotlib, pytest.
$(VENV)/.installed: pyproject.toml
	@echo "Installing $(VENV): TensorFlow, TFRS, ScaNN, LiteRT (a minute or two)"
	@$(PYTHON) -m venv $(VENV)
	@$(VENV)/bin/pip install $(PIP_QUIET) --upgrade pip
	@$(VENV)/bin/pip install $(PIP_QUIET) -e '.[train,edge,bench,dev]'
	@touch $@

# Edge environment on LiteRT: numpy 2 and ai-edge-litert, no TensorFlow.
$(LITERT_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(LITERT_VENV)
	$(LITERT_VENV)/bin/pip install $(PIP_QUIET) -e '.[edge,dev]'
	touch $@

# Edge environment on the deprecated tflite-runtime 2.14, which needs numpy<2.
$(TFLITE_VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(TFLITE_VENV)
	$(TFLITE_VENV)/bin/pip install $(PIP_QUIET) 'numpy<2' 'tflite-runtime==2.14.0' 'pytest>=8' 'pytest-xdist>=3.8' 'jsonschema>=4'
	$(TFLITE_VENV)/bin/pip install $(PIP_QUIET) --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/edgerank demo --output-dir $(ARTIFACTS) $(if $(DATA),--data $(DATA))

# Every test: the unit tests (synthetic data), the integration tests (the real archive; they write the
# bundles the device suites read), then the device suites in both interpreters, side by side.
test: test-unit test-integration
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-edge

# The inner loop while developing (a few minutes): the unit tests and both device suites, on the bundles
# the last `make test` left in build/.
test-fast: test-unit
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-edge

test-unit: $(VENV)/.installed
	$(VENV)/bin/python -m pytest $(PYTEST_XDIST) $(PYTEST_FLAGS) tests/unit

test-integration: $(VENV)/.installed $(TFLITE_VENV)/.installed
	@test -n "$(TEST_DATA)" || { echo "make test needs MovieLens 100K: make test DATA=path/to/ml-100k.zip" >&2; exit 2; }
	EDGERANK_DATA=$(abspath $(TEST_DATA)) $(VENV)/bin/python -m pytest $(PYTEST_XDIST) $(PYTEST_FLAGS) tests/integration

test-edge: test-edge-litert test-edge-tflite

test-edge-litert: $(LITERT_VENV)/.installed
	EDGERANK_EXPECT_BACKEND=ai_edge_litert $(LITERT_VENV)/bin/python -m pytest $(PYTEST_FLAGS) tests/edge tests/edge_cli

test-edge-tflite: $(TFLITE_VENV)/.installed
	EDGERANK_EXPECT_BACKEND=tflite_runtime $(TFLITE_VENV)/bin/python -m pytest $(PYTEST_FLAGS) tests/edge tests/edge_cli

# The edge client on emulated Raspberry Pi OS systems (qemu-user; needs root and `make test`'s
# artifacts). The Debian roots are cached in $(EDGERANK_PI_CACHE) or ~/.cache/edgerank/pi.
test-pi: $(LITERT_VENV)/.installed
	bash tests/pi/run.sh

clean:
	rm -rf $(VENV) $(LITERT_VENV) $(TFLITE_VENV) build
