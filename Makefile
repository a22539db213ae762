PY ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test test-quick bench bench-proxy bench-attacks attacks mutate clean

install: $(STAMP)

# Reinstall only when the project metadata changed: `make test` stays fast.
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PY) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

run: install
	mkdir -p var/audit
	$(BIN)/guard proxy --policy policies/default.yaml --audit-dir var/audit --listen-host 127.0.0.1 --listen-port 8080 --metrics 127.0.0.1:9464

# Tests run in parallel, one worker per CPU (pytest-xdist; make test WORKERS=1 runs them in one
# process); a test file stays on one worker, so its module fixtures (a real proxy, a compiled
# policy, a scored corpus) are built once.
WORKERS ?= auto
# Bytecode caches stay on even where the environment turns them off: otherwise every test
# subprocess (CLI runs, proxies) compiles the guard again and pytest re-rewrites every test
# module's asserts in each worker (~6 s a worker).
unexport PYTHONDONTWRITEBYTECODE
PYTEST := $(BIN)/python -m pytest -n $(WORKERS) --dist loadfile

test: install
	$(PYTEST)

# The inner loop: everything but end-to-end, browser and other slow tests (@pytest.mark.slow).
test-quick: install
	$(PYTEST) -m "not slow"

bench: install
	$(BIN)/python bench/bench_engine.py

bench-proxy: install
	$(BIN)/python bench/bench_proxy.py

bench-attacks: install
	$(BIN)/python bench/bench_attacks.py

# Our attack generator (tests/adversarial) on a larger sample than CI's 24: real guard proxy,
# loopback receiver; figures printed and written to var/attacks.json. make attacks ATTACKS=2000
ATTACKS ?= 400
attacks: install
	mkdir -p var
	ATTACKS=$(ATTACKS) ATTACKS_REPORT=var/attacks.json $(BIN)/python -m pytest -q -p no:randomly -s tests/adversarial

# Mutation testing of the protection modules (tools/mutate.py; not in CI: minutes per module).
# One module: make mutate MODULES=guard/identity.py
mutate: install
	nice -n 19 $(BIN)/python tools/mutate.py $(MODULES) --report docs/mutation.md

clean:
	rm -rf $(VENV) var
