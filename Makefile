# Paredão: `make run` serves the API on the embedded SQLite default; `make test` checks everything.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin

.PHONY: run test test-shifted-clock test-postgres lint format clean bench bench-kafka bench-drain capacity kafka-start kafka-stop postgres-start postgres-stop browser up down nginx-start nginx-stop validate-deploy

$(VENV)/.installed: requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

## Migrate the database to the newest schema and serve the API (http://127.0.0.1:8000/docs).
run: $(VENV)/.installed
	$(BIN)/python main.py

## Lint, type-check and run the whole test suite.
test: lint
	$(BIN)/python -m pytest

## The suite (without the browser and deploy tests) with the wall clock 400 days ahead, so a
## test that depends on today's date fails the day it is written (Debian's faketime). The
## monotonic clock moves by the same constant: libfaketime's real-monotonic mode makes
## Python's time.sleep fail with EINVAL (clock_nanosleep). The tests against the Kafka broker
## stay out: under libfaketime librdkafka's metadata requests never return; so does the OpenAPI
## fuzz (it exceeds its 120 s timeout there), which checks shapes, not dates.
test-shifted-clock: $(VENV)/.installed
	@command -v faketime >/dev/null || { echo "faketime is missing: apt-get install faketime" >&2; exit 1; }
	faketime -f '+400d' $(BIN)/python -m pytest -p no:cacheprovider --ignore=tests/browser \
	  --ignore=tests/deploy --ignore=tests/controllers/test_openapi_fuzz.py -m "not kafka"

## The whole test suite again on PostgreSQL (a local server from deploy/postgres/start.sh, on
## PGPORT_DEV, default 55432).
test-postgres: $(VENV)/.installed
	deploy/postgres/start.sh >/dev/null
	PAREDAO_TEST_DATABASE_URL=postgresql+psycopg://paredao:paredao@127.0.0.1:$${PGPORT_DEV:-55432}/paredao_test $(BIN)/python -m pytest

lint: $(VENV)/.installed
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy .
	$(BIN)/lint-imports

format: $(VENV)/.installed
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

## Vote benchmark: API with 2 workers on SQLite under wrk, against no-op baselines.
bench: $(VENV)/.installed
	$(BIN)/python -m bench.votes

## Kafka path benchmark: API acknowledged votes/s (2 workers), the consumer's drain into
## PostgreSQL, 202 → counted latency, the count check; direct SQLite/PostgreSQL for ratios.
## Starts the broker and PostgreSQL with deploy/kafka and deploy/postgres (left running).
bench-kafka: $(VENV)/.installed
	$(BIN)/python -m bench.kafka

## The consumer's drain without HTTP: 1,000,000 records of a show's mix produced straight into
## a fresh 6-partition topic, drained into a fresh PostgreSQL database by 1, 2 and 3 consumer
## processes; the stored tally and refusals checked against the rules (EXACT or MISMATCH).
bench-drain: $(VENV)/.installed
	$(BIN)/python -m bench.drain

## Capacity plan: the Kafka stack (API workers, broker, one consumer, PostgreSQL) under a
## steady load for 30 s; CPU-ms per 1,000 votes and bytes per vote per tier from /proc, the
## Kafka log and PostgreSQL's WAL and tables; the cores and disk 25k and 60k votes/s need.
## Prometheus (deploy/prometheus/install.sh) scrapes it all and answers the dashboard's queries.
capacity: $(VENV)/.installed
	$(BIN)/python -m bench.capacity

## A local Apache Kafka broker (KRaft, from Maven Central jars) on 127.0.0.1:9092.
kafka-start:
	deploy/kafka/start.sh

kafka-stop:
	deploy/kafka/stop.sh

## A local PostgreSQL on 127.0.0.1:55432 (apt install if missing); prints its DATABASE_URL.
postgres-start:
	deploy/postgres/start.sh

postgres-stop:
	deploy/postgres/stop.sh

## Debian's Chromium for the browser tests (tests/browser).
browser:
	deploy/browser/install.sh

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache

## The whole stack as local processes: PostgreSQL, Kafka, migration, 2 API processes, NGINX
## on http://127.0.0.1:8080 (prints the admin token). PAREDAO_API_PROCESSES=N for more.
up:
	deploy/stack/up.sh

down:
	deploy/stack/down.sh

## NGINX alone in front of API processes already running (PAREDAO_UPSTREAM_PORTS="8001 8002").
nginx-start:
	deploy/nginx/start.sh

nginx-stop:
	deploy/nginx/stop.sh

## Check compose.yaml (docker-compose config) and the Kubernetes manifests (kubernetes-validate).
validate-deploy: $(VENV)/.installed
	deploy/validate.sh
