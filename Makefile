# certwatch — the two commands: `make demo` and `make test`.
# Both set up everything they need (idempotent: a second run skips what is there).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.certwatch-installed

.PHONY: demo test setup browser redis bench clean

demo: setup
	$(BIN)/certwatch demo --workdir demo

test: setup
	$(BIN)/python -m pytest -q -n 2

setup: $(STAMP) browser redis

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

# Redis for distributed sweeps (certwatch worker / ingest / sweep --redis) and
# their tests, which start their own redis-server on a free loopback port:
# Debian's package where apt works (as root), like the browser above.
redis:
	@if command -v redis-server >/dev/null 2>&1 || [ -x /usr/bin/redis-server ]; then \
		echo "redis-server 已安装"; \
	elif command -v apt-get >/dev/null 2>&1 && [ "$$(id -u)" = 0 ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server >/dev/null; \
	else \
		echo "请安装 redis-server（Debian/Ubuntu：sudo apt-get install redis-server）：分布式巡查及其测试需要它" >&2; \
		exit 1; \
	fi

bench: setup
	$(BIN)/python bench/bench_sweep.py

clean:
	rm -rf demo .pytest_cache
