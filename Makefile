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

.PHONY: demo test test-pi install clean

install: $(VENV)/.installed

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
	$(TFLITE_VENV)/bin/pip install $(PIP_QUIET) 'numpy<2' 'tflite-runtime==2.14.0' 'pytest>=8' 'jsonschema>=4'
	$(TFLITE_VENV)/bin/pip install $(PIP_QUIET) --no-deps -e .
	touch $@

demo: $(VENV)/.installed
	$(VENV)/bin/edgerank demo --output-dir $(ARTIFACTS) $(if $(DATA),--data $(DATA))

test: $(VENV)/.installed $(LITERT_VENV)/.installed $(TFLITE_VENV)/.installed
	@test -n "$(TEST_DATA)" || { echo "make test needs MovieLens 100K: make test DATA=path/to/ml-100k.zip" >&2; exit 2; }
	EDGERANK_DATA=$(abspath $(TEST_DATA)) $(VENV)/bin/python -m pytest tests/unit tests/integration
	EDGERANK_EXPECT_BACKEND=ai_edge_litert $(LITERT_VENV)/bin/python -m pytest tests/edge tests/edge_cli
	EDGERANK_EXPECT_BACKEND=tflite_runtime $(TFLITE_VENV)/bin/python -m pytest tests/edge tests/edge_cli

# The edge client on emulated Raspberry Pi OS systems (qemu-user; needs root and `make test`'s
# artifacts). The Debian roots are cached in $(EDGERANK_PI_CACHE) or ~/.cache/edgerank/pi.
test-pi: $(LITERT_VENV)/.installed
	bash tests/pi/run.sh

clean:
	rm -rf $(VENV) $(LITERT_VENV) $(TFLITE_VENV) build
