# podnet.cni — everything a newcomer needs, as root on Debian/Ubuntu:
#   make demo   install what is needed, run playbooks/demo.yml on localhost
#   make test   install what is needed, run every test and quality gate
#   make bench  benchmarks against the raw plugins and the peers (not part of CI)
SHELL := /bin/bash
ROOT := $(CURDIR)
VENV := $(ROOT)/.venv
BIN := $(VENV)/bin
export PATH := $(BIN):$(PATH)
export ANSIBLE_COLLECTIONS_PATH := $(ROOT)/.build
export ANSIBLE_COLLECTIONS_SCAN_SYS_PATH := false
export PYTHONPATH := $(ROOT)/.build
export ANSIBLE_NOCOLOR := 1
export ANSIBLE_FORCE_COLOR := 0
PYTEST := $(BIN)/python -m pytest -p no:cacheprovider
# what every test target needs first; `make test` runs it once and its stages with DEPS=
DEPS ?= test-deps
# the functional areas side by side (tests/conftest.py groups them): 3 workers keep 2 cores
# busy (a test spends about half its time waiting on plugins, daemons and timeouts)
PYTEST_WORKERS ?= 3
PYTEST_PARALLEL := $(if $(filter-out 0 1,$(PYTEST_WORKERS)),-n $(PYTEST_WORKERS) --dist loadscope)

.PHONY: deps test-deps demo test unit functional integration sanity matrix lint docs-check docs molecule molecule-local molecule-fleet bench build clean

deps:
	@scripts/install-deps.sh

# then, before any test: can an unprivileged user run what the rootless tests give it?
test-deps:
	@PODNET_WITH_TEST_DEPS=1 scripts/install-deps.sh
	@scripts/check-prereqs.sh

# build from the files git knows (tracked + new, not ignored): stray tool dirs stay out;
# outside a git checkout (a source tarball) from the tree itself, galaxy.yml's build_ignore
build: deps
	@rm -rf .build/dist .build/stage && mkdir -p .build/dist .build/stage
	@if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then \
	  git ls-files -co --exclude-standard -z | xargs -0 -I{} cp --parents -P {} .build/stage/; \
	  src=.build/stage; else src=.; fi; \
	$(BIN)/ansible-galaxy collection build --force --output-path .build/dist $$src >/dev/null
	@ls .build/dist/*.tar.gz

demo: build
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/.build/demo-collections $(BIN)/ansible-galaxy collection install --force -p .build/demo-collections .build/dist/podnet-cni-*.tar.gz >/dev/null
	ANSIBLE_COLLECTIONS_PATH=$(ROOT)/.build/demo-collections $(BIN)/ansible-playbook -i playbooks/inventory.ini playbooks/demo.yml

# every test: quality gates first, pytest last (its summary closes the output). Stages that
# share nothing run side by side (scripts/in-parallel.sh, each one's output shown whole when
# it ends): ansible-test sanity and the two matrix legs (each in a tree, venv or root fs of
# its own); then the localhost gates and the managed-host scenario one after the other (not
# side by side: the fleet hosts' rootless user and the integration target's get the same
# uid, and the host's cleanup of its user's processes, by uid, reached into the hosts);
# then pytest, its areas on PYTEST_WORKERS workers.
test: test-deps
	@scripts/in-parallel.sh "sanity 2.19" tests/run-ansible-test.sh sanity \
	  $(foreach leg,$(MATRIX_LEGS),:: "matrix $(leg)" tests/matrix/run.sh $(leg))
	@$(MAKE) --no-print-directory DEPS= lint docs-check integration molecule-local molecule-fleet
	@$(MAKE) --no-print-directory DEPS= unit-functional

unit: $(DEPS)
	$(PYTEST) tests/unit -q

functional: $(DEPS)
	$(PYTEST) tests/functional -q

unit-functional: $(DEPS)
	$(PYTEST) $(PYTEST_PARALLEL) tests/unit tests/packaging tests/functional tests/pytest_ansible -q -ra

integration: $(DEPS)
	tests/run-ansible-test.sh integration

sanity: $(DEPS)
	tests/run-ansible-test.sh sanity

# the ansible-core matrix (tests/matrix/run.sh): sanity and unit tests on 2.17 (a Python 3.11
# venv) and 2.21 (Python 3.13 in a Debian 13 root fs, podman), the demo playbook on 2.21.
# 2.19 is .venv's: `sanity` and `unit-functional` are that leg. Built things are cached in
# ~/.cache/podnet-cni/matrix (PODNET_MATRIX_CACHE). MATRIX_LEGS="2.17 2.19 2.21" runs all three.
MATRIX_LEGS ?= 2.17 2.21
matrix: $(DEPS)
	tests/matrix/run.sh $(MATRIX_LEGS)

lint: $(DEPS)
	@# ANSIBLE_HOME: ansible-lint puts $$ANSIBLE_HOME/collections first; a stale podnet.cni copy
	@# installed there by an earlier tool run would shadow .build
	ANSIBLE_HOME=$(ROOT)/.build/lint-home $(BIN)/ansible-lint roles playbooks molecule
	$(BIN)/python scripts/check-layers.py
	$(BIN)/antsibull-changelog lint
	$(BIN)/antsibull-changelog lint-changelog-yaml changelogs/changelog.yaml

# molecule on localhost (default: root, rootless: an unprivileged user it creates), on managed
# hosts over SSH (fleet: podman containers from Debian root file systems) and the vagrant
# scenario's syntax (it needs Vagrant and VMs to run: see docs/molecule.md)
MOLECULE := cd $(ROOT) && NO_COLOR=1 $(BIN)/molecule

docs-check: $(DEPS)
	@for m in plugins/modules/*.py; do \
	  $(BIN)/ansible-doc -t module podnet.cni.$$(basename $$m .py) >/dev/null || exit 1; done; \
	for r in roles/*/meta/argument_specs.yml; do [ -e "$$r" ] || continue; \
	  $(BIN)/ansible-doc -t role podnet.cni.$$(basename $$(dirname $$(dirname $$r))) >/dev/null || exit 1; done; \
	  echo "ansible-doc renders every module and role"
	@$(BIN)/python scripts/render-batch-fragments.py --check
	@$(BIN)/python docs/render_modules.py --check || echo "warning: run 'make docs' to refresh docs/modules.md"

# docs/modules.md from the modules' and roles' own documentation
docs: $(DEPS)
	$(BIN)/python scripts/render-batch-fragments.py
	$(BIN)/python docs/render_modules.py

molecule: molecule-local molecule-fleet

molecule-local: $(DEPS)
	$(MOLECULE) test -s default
	$(MOLECULE) test -s rootless
	cd $(ROOT) && NO_COLOR=1 molecule/vagrant/syntax.sh

molecule-fleet: $(DEPS)
	$(MOLECULE) test -s fleet

# BENCH_ARGS=--quick for a ~3-minute smoke run; results in bench/results/summary.md
bench: deps
	bench/peers/install_podman.sh
	$(BIN)/python bench/run.py $(BENCH_ARGS)

clean:
	rm -rf .build tests/output
