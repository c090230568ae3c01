# The two set-up commands of the README. Each creates .venv on first use: torch is pinned and
# installed first (an unpinned torch pulls a multi-GB CUDA build), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install
install: $(VENV)/.installed

$(VENV)/.installed: setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet torch==2.13.0
	$(BIN)/python -m pip install --quiet -e ".[all,test]"
	touch $@

demo: install
	$(BIN)/fvmr demo --overwrite

test: install
	$(BIN)/python -m pytest -q
