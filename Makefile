SHELL := /bin/bash
# deephex — one-command setup, demo and tests.
#   make demo     set up .venv and run the demo end to end on the built-in virtual tissue
#   make test     set up .venv and run every check CI runs (prints each phase's time; ends with pytest's summary)
#   make test-fast  the quick loop while developing: the same without the slow tests and notebook cells
#   make figures  rerun the figure notebooks (papermill) at full parameters into figures/ (DEVICE=cuda on a GPU)
#   make figures-biology  only the biology figures (makes the one prediction they need: minutes, not the benchmark's hour)
#   make lab      open the notebooks in JupyterLab
#   make run-all  Run All of every notebook under papermill, as JupyterLab runs them
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
DEMO_OUT ?= runs/demo
DEVICE   ?= auto
FIGURES  ?= figures
BENCH_RUN ?= runs/benchmark
PAPERMILL = $(BIN)/papermill -k python3 --language python --cwd nbs

.PHONY: setup demo test test-fast figures figures-biology lab run-all check-sync nbtest pytest clean-venv

setup: $(VENV)/.installed
$(VENV)/.installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

demo: setup
	$(BIN)/deephex demo --out $(DEMO_OUT)

# Figures: the benchmark notebook resumes the full benchmark in $(BENCH_RUN) (computing what is missing, about an hour
# on 2 CPU cores the first time); the scaling notebook draws the committed measurement benchmarks/scaling.json.
figures: setup figures-biology
	mkdir -p $(FIGURES)/executed
	$(PAPERMILL) nbs/30_figures_benchmark.ipynb $(FIGURES)/executed/30_figures_benchmark.ipynb \
	  -p plan full -p benchmark_dir $(abspath $(BENCH_RUN)) -p fig_dir $(abspath $(FIGURES)) -p device $(DEVICE)
	$(PAPERMILL) nbs/31_figures_scaling.ipynb $(FIGURES)/executed/31_figures_scaling.ipynb \
	  -p scaling_json $(abspath benchmarks/scaling.json) -p fig_dir $(abspath $(FIGURES)) -p device $(DEVICE)

figures-biology: setup
	mkdir -p $(FIGURES)/executed
	$(PAPERMILL) nbs/32_figures_biology.ipynb $(FIGURES)/executed/32_figures_biology.ipynb \
	  -p plan full -p benchmark_dir $(abspath $(BENCH_RUN)) -p fig_dir $(abspath $(FIGURES)) -p device $(DEVICE)

lab: setup
	$(BIN)/jupyter lab nbs

# Run All of every notebook as JupyterLab does (papermill runs every cell, GPU and slow ones included; nbdev-test skips
# the flagged ones), two at a time, executed copies in $(RUNALL_OUT); lists each notebook ok / FAIL. About 10 minutes.
RUNALL_OUT ?= /tmp/deephex-run-all
run-all: setup
	mkdir -p $(RUNALL_OUT)
	cd nbs && ls [0-9]*.ipynb | xargs -P2 -I{} sh -c '../$(BIN)/papermill -k python3 --language python {} $(RUNALL_OUT)/{} > $(RUNALL_OUT)/{}.log 2>&1 && echo "{} ok" || echo "{} FAIL"' | tee $(RUNALL_OUT)/summary.txt
	! grep -q FAIL $(RUNALL_OUT)/summary.txt

# Notebooks are the source: they must be clean and the module in sync with them.
check-sync: setup
	@before=$$(find nbs deephex -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha1sum); \
	$(BIN)/nbdev-clean >/dev/null && $(BIN)/nbdev-export >/dev/null; \
	after=$$(find nbs deephex -type f \( -name '*.ipynb' -o -name '*.py' \) -not -path '*/.ipynb_checkpoints/*' -print0 | sort -z | xargs -0 sha1sum); \
	if [ "$$before" != "$$after" ]; then \
	  echo "FAIL: notebooks were not clean or deephex/ was out of sync with nbs/."; \
	  diff <(echo "$$before") <(echo "$$after") | grep '^>' | sed 's/^> [0-9a-f]*  /  changed: /'; \
	  echo "  Fix: run 'nbdev-clean && nbdev-export' and commit nbs/ and deephex/ together."; exit 1; \
	else echo "notebooks clean, module in sync"; fi

nbtest: setup
	@start=$$(date +%s); $(BIN)/nbdev-test --n-workers 2 $(NBFLAGS); rc=$$?; echo "nbdev-test: $$(( $$(date +%s) - start )) s"; exit $$rc

pytest: setup
	$(BIN)/python -m pytest tests -q --durations=5 $(PYTESTFLAGS)

# make test runs every notebook top to bottom, slow cells included (at their small parameters): a notebook that
# fails Run All fails CI. make test-fast skips the slow cells and slow tests.
test: NBFLAGS = --flags slow
test: check-sync nbtest pytest

test-fast: PYTESTFLAGS = -m "not slow"
test-fast: check-sync nbtest pytest

clean-venv:
	rm -rf $(VENV)
