# The two commands of the README, and a few more.
#   make run    set up, build the web app and the server, serve on 127.0.0.1:9090
#   make test   set up, build, lint and run every test (what CI runs)
#   make bench      the fan-out benchmark against Redis pub/sub
#   make bench-web  the web app's speed in Chromium
#   make mutants    mutation testing of server/ and shared/ (slow; docs/testing.md)
#   make fuzz       every fuzz target for FUZZ_SECONDS (default 60) each (docs/testing.md)
SHELL := /bin/bash
CARGO ?= cargo

.PHONY: run test setup setup-test frontend lint bench bench-web mutants fuzz fuzz-smoke clean

run: setup frontend
	$(CARGO) run --release -p malten-server --bin malten -- $(ARGS)

test: setup-test frontend lint
	$(CARGO) build -p malten-server --bin malten
	$(CARGO) test --workspace --all-targets
	$(CARGO) test --workspace --doc
	$(MAKE) fuzz-smoke

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
	$(CARGO) run --release -p malten-tests --bin malten-bench -- --charts docs/bench $(ARGS)

# The web app's speed in Chromium (key derivation, decrypt and render 1024
# messages, download size).
bench-web: setup-test frontend
	$(CARGO) build -p malten-server --bin malten
	$(CARGO) test -p malten-tests --test e2e -- --ignored --nocapture web_app_speed_in_chromium

# Mutation testing with cargo-mutants (not in CI: hours on 2 cores for the
# whole scope). .cargo/mutants.toml sets the scope and what is skipped;
# narrow it further with ARGS, e.g.
#   make mutants ARGS="--file 'shared/src/crypto/**'"
# Results go to mutants.out/ (outcomes.json, caught.txt, missed.txt).
mutants:
	scripts/setup.sh mutants
	$(CARGO) mutants --profile mutants --package malten-server --package malten-shared $(ARGS)

# Fuzzing with cargo-fuzz (nightly): each target in fuzz/ in turn, with its
# committed seeds. `make test` runs the smoke (5 s each) so the targets keep
# building; findings land in fuzz/artifacts/ (docs/testing.md).
FUZZ_SECONDS ?= 60
fuzz:
	scripts/setup.sh fuzz
	scripts/fuzz.sh $(FUZZ_SECONDS)

fuzz-smoke:
	scripts/setup.sh fuzz
	scripts/fuzz.sh 5

clean:
	$(CARGO) clean
	rm -rf dist
