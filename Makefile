# vla: the commands a newcomer needs. `make setup && make test` on a fresh machine; `make demo` after.
.PHONY: setup test test-slow test-all demo reproduce bench bench-decode lint format clean

VENV := .venv/bin
export OMP_NUM_THREADS ?= 1
export TOKENIZERS_PARALLELISM ?= false
# pytest exits 5 when no test ran: make treats that as a failure, as CI must.
PYTEST := $(VENV)/python -m pytest

setup:            ## create .venv (uv, Python 3.12, locked deps), place LIBERO assets, build the tiny model
	bash scripts/setup.sh

test: lint        ## the fast suite (< 15 min on 2 CPU cores); includes real LIBERO and accelerate runs
	$(PYTEST) -m "not slow and not gpu" -q

test-slow:        ## slower checks only
	$(PYTEST) -m "slow and not gpu" -q

test-all:
	$(PYTEST) -m "not gpu" -q

test-gpu:         ## the CUDA checks (tests marked gpu); skipped without a GPU
	$(PYTEST) -m gpu -q

TOKENIZER ?= binning
DEMO_OUT := outputs/demo$(if $(filter-out binning,$(TOKENIZER)),-$(TOKENIZER),)
demo:             ## record -> tokenize -> train (2 processes) -> evaluate; make demo TOKENIZER=actioncodec|fast
	$(VENV)/vla demo --out $(DEMO_OUT) --tokenizer $(TOKENIZER)

EXPERIMENT ?= recipes/experiments/libero_object_task0_h20_fast_100_p16.yaml
reproduce:        ## proof of learning: expert data -> tokenizer -> train -> 50-episode evaluation + baselines (resumable)
	$(VENV)/vla experiment $(EXPERIMENT) $(if $(SEEDS),--seeds $(SEEDS))

bench:            ## every benchmark in bench/ (~20 min on 2 cores; the GPU ones too with CUDA): outputs/bench/run-<date>/summary.md
	$(VENV)/python -m bench $(if $(ONLY),--only $(ONLY),)

bench-decode:     ## latency per action chunk of the three decoding modes, tiny policy on CPU (~1 min)
	$(VENV)/python bench/decode_latency.py --out outputs/bench/decode_latency.json

lint:
	$(VENV)/ruff check vla tests bench scripts
	$(VENV)/ruff format --check vla tests bench scripts

format:
	$(VENV)/ruff format vla tests bench scripts
	$(VENV)/ruff check --fix vla tests bench scripts

clean:            ## remove generated outputs (not the venv)
	rm -rf outputs .pytest_cache .ruff_cache
