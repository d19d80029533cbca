# The two commands a fresh machine needs: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
PY := .venv/bin/python
export REALMASTER_ORT_LIB ?= $(firstword $(wildcard $(CURDIR)/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*))

.PHONY: setup demo test test-rust test-python build

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --release --bin realmaster

demo: build
	./target/release/realmaster render samples/city_pan --out out/demo

test: setup
	@bash scripts/test.sh
