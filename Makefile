# The two commands of the README, and a few more.
#   make run    set up, build the web app and the server, serve on 127.0.0.1:9090
#   make test   set up, build, lint and run every test (what CI runs)
#   make bench  the fan-out benchmark against Redis pub/sub
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test setup setup-test frontend lint bench clean

run: setup frontend
	$(CARGO) run --release -p malten-server --bin malten -- $(ARGS)

test: setup-test frontend lint
	$(CARGO) build -p malten-server --bin malten
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh test

frontend:
	scripts/build-frontend.sh

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

bench:
	scripts/setup.sh bench
	$(CARGO) build --release -p malten-server --bin malten
	$(CARGO) run --release -p malten-tests --bin malten-bench -- $(ARGS)

clean:
	$(CARGO) clean
	rm -rf dist
