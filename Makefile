# sharedcenter: one command each to install, test, lint and run the demo.
#   make install   system packages (apt, only when missing) + .venv (torch CPU wheel first, then .[test])
#   make test      ruff, mypy, then pytest (the fixtures start and stop Orthanc, moto, PostgreSQL, Redis, RabbitMQ)
#   make lint      ruff + mypy
#   make demo      the embedded end-to-end demo (ARGS="..." is passed on)

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c
.DEFAULT_GOAL := test

VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
PYTHON ?= $(shell command -v python3.11 || command -v python3)
TORCH := torch==2.13.0
APT_PACKAGES := orthanc orthanc-dicomweb orthanc-python dcmtk dicom3tools \
                fonts-wqy-zenhei fonts-noto-cjk poppler-utils chromium
ARGS ?=

.PHONY: install system-packages test lint demo

install: system-packages $(STAMP)

system-packages:
	@scripts/apt-install-missing $(APT_PACKAGES)

# Rebuilt only when pyproject.toml is newer than the stamp, so a second `make install` is quick.
# torch is pinned and installed first: this machine has the CPU wheel locally, while an unpinned
# `torch` would pull the multi-GB CUDA build.
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet $(TORCH)
	$(BIN)/pip install --quiet -e '.[test]'
	@touch $@

test: install
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/pytest -q

lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

demo: install
	$(BIN)/sharedcenter demo $(ARGS)
