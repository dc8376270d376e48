# certwatch — the two commands: `make demo` and `make test`.
# Both set up everything they need (idempotent: a second run skips what is there).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.certwatch-installed

.PHONY: demo test setup browser bench clean

demo: setup
	$(BIN)/certwatch demo --workdir demo

test: setup
	$(BIN)/python -m pytest -q

setup: $(STAMP) browser

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Reinstall only when the project metadata changes.
$(STAMP): pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	touch $(STAMP)

# A Chromium for scrapy-playwright, evidence and console tests, and a CJK font:
# Debian's packages where apt works, else Playwright's own download.
browser: $(STAMP)
	@if command -v chromium >/dev/null 2>&1 && fc-list :lang=zh 2>/dev/null | grep -q .; then \
		echo "chromium 与中文字体已安装"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-wqy-microhei >/dev/null; \
	elif ! command -v chromium >/dev/null 2>&1; then \
		$(BIN)/python -m playwright install chromium; \
	fi

bench: setup
	$(BIN)/python bench/bench_sweep.py

clean:
	rm -rf demo .pytest_cache
