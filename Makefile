# The two commands: `make run` (embedded default) and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PORT ?= 8000
DATA_DIR ?= data
ROLE ?= officer
DISTRICT ?= $(if $(filter officer,$(ROLE)),120119,)
SUB ?=

SEED ?=
SEEDS ?=
#: The seeds `make sim` runs by default (the same ones `make test` runs).
SIM_CI_SEEDS ?= 12
#: Processes `make sim` runs its seeds in (each seed replays the same in any).
JOBS ?= 1

.PHONY: help venv run demo token test test-browser chaos lint run-kafka up down schemas bench fuzz sim

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

venv: ## create .venv with the locked dependencies
	@scripts/bootstrap.sh

run: venv ## the embedded default: the four services and the console on http://127.0.0.1:8000 (PORT=…)
	@PORT=$(PORT) DATA_DIR=$(DATA_DIR) .venv/bin/bureau run

demo: venv ## load the demonstration data into the running `make run` (PORT=…)
	@.venv/bin/bureau demo --api http://127.0.0.1:$(PORT)

token: venv ## a dev JWT: make token ROLE=officer DISTRICT=120119,120115 SUB=li.hua
	@.venv/bin/bureau token --role "$(ROLE)" --district "$(DISTRICT)" --sub "$(SUB)"

test: ## lint, type-check, start PostgreSQL + Kafka, run all tests (browser ones too), stop them
	@scripts/test.sh

test-browser: venv ## only the console's browser tests (installs Debian's chromium if missing)
	@scripts/test-browser.sh

chaos: ## the chaos suite: replicas, load, broker/PostgreSQL/replica faults, invariants (CHAOS_* sizes)
	@scripts/chaos.sh

lint: venv ## ruff and mypy only
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy libs/common/src services/*/src sim/src src

sim: venv ## deterministic simulation of a city-year with faults: make sim [SEEDS=1000 JOBS=2 | SEED=17]
	@.venv/bin/python -m bureau_sim $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),$(SIM_CI_SEEDS)) --jobs $(JOBS))

run-kafka: venv ## distributed mode here: PostgreSQL, Kafka, services on 8001-8004, console on 8005 (PORT_BASE=9001: on 9001-9005)
	@scripts/run-kafka.sh

up: ## the docker compose stack (Docker engine + Compose v2; export JWT_SECRET, SESSION_SECRET)
	docker compose up --build

down: ## stop the docker compose stack
	docker compose down

schemas: venv ## export event JSON Schemas and the AsyncAPI document to docs/events
	.venv/bin/bureau schemas --out docs/events --force

FUZZ_EXAMPLES ?= 300
FUZZ_CASES ?= 30000
FUZZ_MINUTES ?=
FUZZ_DEMO ?=
fuzz: venv ## schemathesis at full size, niced: ~FUZZ_CASES cases per service, or FUZZ_MINUTES each; FUZZ_DEMO=1: on the demo data (figures in fuzz-report/)
	nice -n 10 .venv/bin/python tests/contract/fuzz.py --max-examples $(FUZZ_EXAMPLES) \
	  --cases-per-service $(FUZZ_CASES) $(if $(FUZZ_MINUTES),--minutes $(FUZZ_MINUTES)) \
	  $(if $(FUZZ_DEMO),--demo) --seed 20261201 --out fuzz-report

bench: venv ## run the benchmarks (figures in bench/RESULTS.md)
	@scripts/bench.sh
