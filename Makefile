# The two set-up commands of the README. Each creates .venv on first use: torch is pinned and
# installed first (an unpinned torch pulls a multi-GB CUDA build), then the package with its extras.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: demo test install browser
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

# Headless Chromium for the app's browser test (Debian packages; needs root, as in CI). Without it the
# test is skipped, except under CI, where it fails.
browser:
	command -v chromium >/dev/null && command -v chromedriver >/dev/null || \
		(apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver)
