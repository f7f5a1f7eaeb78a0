# The two set-up commands of the README:
#   make app   install into .venv, build the simulated demo database if missing or stale, open the app
#   make test  install into .venv (and Chromium for the browser test), run every test
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-requirements
DB ?= data/demo/laionet_demo.duckdb
PORT ?= 8501
# Interface the app listens on: this machine only, unless asked (`make app ADDRESS=0.0.0.0`).
ADDRESS ?= 127.0.0.1

.PHONY: app test demo bench lint chromium tesseract

$(STAMP): requirements.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --upgrade pip
	$(BIN)/pip install -r requirements.txt
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m precompute demo --db $(DB) --if-missing

app: demo
	LAIONET_DB=$(DB) $(BIN)/streamlit run app.py --server.port $(PORT) --server.address $(ADDRESS)

# Debian's Chromium for the Playwright test (never `playwright install`).
chromium:
	@command -v chromium >/dev/null 2>&1 || [ -x /usr/lib/chromium/chromium ] || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium; }

# Debian's Tesseract for the OCR step (python -m precompute ocr) and its test.
tesseract:
	@command -v tesseract >/dev/null 2>&1 || { \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq tesseract-ocr; }

test: $(STAMP) chromium tesseract
	$(BIN)/python -m pytest

bench: $(STAMP)
	for script in benchmarks/bench_*.py; do PYTHONPATH=. $(BIN)/python $$script || exit 1; done

lint: $(STAMP)
	$(BIN)/ruff check . && $(BIN)/ruff format --check .
