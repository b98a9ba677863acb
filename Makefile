# neurodeploy: two commands.
#   make demo   set up the full environment (Python 3.10 + Lava) and run train → export → verify → energy
#   make test   set up both environments and run the whole test suite in each (and ruff)
#   make experiments  rerun the seed-paper experiments (#19) into experiments/results/ (~2-2.5 h)
SHELL := /bin/bash
.ONESHELL:
.SHELLFLAGS := -eu -o pipefail -c

FULL := .venv-full
CORE := .venv-core
RUN  ?= runs/demo
PIP_FLAGS ?= -q --disable-pip-version-check
# torch.utils.cpp_extension runs `ninja` from PATH: the venvs' own copy comes first.
export PATH := $(CURDIR)/$(FULL)/bin:$(CURDIR)/$(CORE)/bin:$(PATH)

.PHONY: demo test test-core test-full lint env-full env-core clean bench experiments

$(FULL)/.ok: pyproject.toml
	py=$$(scripts/find-python.sh 3.10) || { echo "make: the full environment needs Python 3.10 (lava-dl); see above" >&2; exit 1; }
	$$py -m venv $(FULL)
	$(FULL)/bin/pip install $(PIP_FLAGS) --upgrade "pip<25"
	$(FULL)/bin/pip install $(PIP_FLAGS) -e ".[loihi,dev,writers-py310,xylo,sweep,experiments]"
	$(FULL)/bin/python -m neurodeploy.neurons.build   # compile the C++ scan once (~40 s)
	touch $@

$(CORE)/.ok: pyproject.toml constraints-core.txt
	py=$$(scripts/find-python.sh core)
	$$py -m venv $(CORE)
	$(CORE)/bin/pip install $(PIP_FLAGS) -c constraints-core.txt torch==2.13.0
	$(CORE)/bin/pip install $(PIP_FLAGS) -c constraints-core.txt -e ".[dev,test-peers,xylo,sweep,experiments]"
	# NeuroBench (exactness reference for the energy counts): its metrics need none of its
	# declared extras (torchaudio, gdown …), which would fight the local torch wheel.
	$(CORE)/bin/pip install $(PIP_FLAGS) --no-deps neurobench==2.3.0
	# Sinabs 3.1.3 (a NIR writer of the conformance matrix) pins nir<=1.0.4 and samna (a stub on
	# PyPI that downloads at import); its layers and to_nir need neither: keep our nir 1.0.8.
	$(CORE)/bin/pip install $(PIP_FLAGS) --no-deps sinabs==3.1.3
	$(CORE)/bin/python -m neurodeploy.neurons.build
	touch $@

env-full: $(FULL)/.ok
env-core: $(CORE)/.ok

demo: $(FULL)/.ok
	scripts/demo.sh $(FULL) $(RUN)

test: test-core test-full lint

test-core: $(CORE)/.ok
	scripts/browser.sh || true
	$(CORE)/bin/python -m pytest -q -p no:cacheprovider

test-full: $(FULL)/.ok
	$(FULL)/bin/python -m pytest -q -p no:cacheprovider

lint: $(CORE)/.ok
	$(CORE)/bin/ruff check .

bench: $(CORE)/.ok
	$(CORE)/bin/pip install $(PIP_FLAGS) -c constraints-core.txt -e ".[bench]"
	$(CORE)/bin/python bench/train_step.py
	$(FULL)/bin/python bench/loihi_emulator.py

# the seed papers' claims (#19): experiments/results/*.md, ~2-2.5 h on 2 shared CPU cores (the #19 second round adds ~1 h)
experiments: $(CORE)/.ok
	experiments/run_all.sh $(CORE)/bin/python

clean:
	rm -rf $(FULL) $(CORE) runs
