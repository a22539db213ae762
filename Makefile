PY ?= python3.12
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: install run test bench bench-proxy bench-attacks clean

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

test: install
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/bench_engine.py

bench-proxy: install
	$(BIN)/python bench/bench_proxy.py

bench-attacks: install
	$(BIN)/python bench/bench_attacks.py

clean:
	rm -rf $(VENV) var
