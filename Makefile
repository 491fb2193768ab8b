# The two commands: `make run` (embedded default) and `make test`.
.DEFAULT_GOAL := help
SHELL := /bin/bash

PORT ?= 8000
DATA_DIR ?= data
ROLE ?= officer
DISTRICT ?=
SUB ?=

SEED ?=
SEEDS ?=
#: The seeds `make sim` runs by default (the same ones `make test` runs).
SIM_CI_SEEDS ?= 12

.PHONY: help venv run token test lint run-kafka up down schemas bench sim

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-10s %s\n", $$1, $$2}'

venv: ## create .venv with the locked dependencies
	@scripts/bootstrap.sh

run: venv ## the embedded default: all four services on http://127.0.0.1:$(PORT), SQLite, in-process events
	@PORT=$(PORT) DATA_DIR=$(DATA_DIR) .venv/bin/bureau run

token: venv ## a dev JWT: make token ROLE=officer DISTRICT=120119,120115 SUB=li.hua
	@.venv/bin/bureau token --role "$(ROLE)" --district "$(DISTRICT)" --sub "$(SUB)"

test: ## lint, type-check, start PostgreSQL + Kafka, run all tests, stop them
	@scripts/test.sh

lint: venv ## ruff and mypy only
	.venv/bin/ruff check . && .venv/bin/ruff format --check . && .venv/bin/mypy libs/common/src services/*/src sim/src src

sim: venv ## deterministic simulation of a city-year with faults: make sim [SEEDS=1000 | SEED=17]
	@.venv/bin/python -m bureau_sim $(if $(SEED),--seed $(SEED),--seeds $(or $(SEEDS),$(SIM_CI_SEEDS)))

run-kafka: venv ## distributed mode on this machine: PostgreSQL, Kafka, four service processes on 8001-8004
	@scripts/run-kafka.sh

up: ## the docker compose stack (needs a Docker engine)
	docker compose up --build

down: ## stop the docker compose stack
	docker compose down

schemas: venv ## export event JSON Schemas and the AsyncAPI document to docs/events
	.venv/bin/bureau schemas --out docs/events

bench: venv ## run the benchmarks (needs TEST_PG_ADMIN_URL; see bench/README.md)
	@scripts/bench.sh
