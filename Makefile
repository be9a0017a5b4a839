# The two commands: `make demo` runs the main job, `make test` passes the tests.
# Each sets up what it needs (a .venv with the package) on a fresh machine.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install system-packages demo test lint mlflow-ui clean

install: $(STAMP)

$(STAMP): pyproject.toml setup.py recommender/_realtime.c recommender/_rank.h serving/_walk.c
	@command -v cc >/dev/null || { echo "make install: the package has C extensions; install a C compiler (apt-get install gcc)" >&2; exit 1; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: install
	$(BIN)/recsys demo

system-packages:
	.ci/system-packages

test: install system-packages
	$(BIN)/python -m pytest -q

lint: install
	$(BIN)/ruff check recommender storage training serving recsys_cli tests benchmarks

mlflow-ui: install
	$(BIN)/python mlflow/serve_ui.py

clean:
	rm -rf $(VENV) .recsys demo-data .pytest_cache .ruff_cache
