PY ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAGE ?= dev

.PHONY: install test test-fast lint scan demo serve clean package deploy destroy-stack bench user-install \
	doctor smoke

$(BIN)/daskyard: pyproject.toml constraints.txt
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade 'pip<26.3'  # chalice 1.34 needs pip<26.3 to build packages
	$(BIN)/pip install -q -c constraints.txt -e '.[dev]'  # every version pinned
	touch $@

node_modules/.bin/asl-validator: package.json
	npm install --no-audit --no-fund --silent
	touch $@

install: $(BIN)/daskyard node_modules/.bin/asl-validator

# The browser test drives Debian's chromium through Playwright (no browser download):
# installed here when missing, or make stops saying why.
/usr/bin/chromium:
	@{ apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium; } \
		|| { echo "cannot install Debian's chromium, which the browser test needs" >&2; exit 1; }

# The emulator's seam is guarded first (tests/seam, a few seconds): after a moto or
# chalice upgrade it names each internal local mode relies on that changed, before any
# test fails obscurely far from it.
test: install /usr/bin/chromium
	$(BIN)/python -m pytest -q -p no:logging -n 0 tests/seam
	$(BIN)/python -m pytest -q -p no:logging --ignore=tests/seam

# The inner loop: the unit and functional tests, less the long ones (marked `long`).
test-fast: install
	$(BIN)/python -m pytest -q -p no:logging -m "not long" tests/unit tests/functional

lint: install scan
	$(BIN)/python -m deploy.asl --check
	$(BIN)/python -m deploy.diagrams --check
	$(BIN)/python -m deploy.openapi --check
	npx asl-validator --json-path stepfunctions/create_cluster.asl.json \
		--json-path stepfunctions/rollback_cluster.asl.json --json-path stepfunctions/destroy_cluster.asl.json \
		--json-path stepfunctions/teardown.asl.json
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-cache
	$(BIN)/hadolint images/Dockerfile

# Security scanners, each with a checked-in skip list giving every skip its reason:
# bandit (pyproject.toml [tool.bandit], `# nosec BXXX  # reason` on a line), checkov on the
# packaged template (.checkov.yaml) and parliament on every IAM policy
# (deploy/parliament-skips.json). About 20 s, most of it `make package`.
# bandit warns "nosec encountered ... but no failed test" for lines of a multi-line
# statement that carries a nosec (a known bandit bug): those lines alone are dropped.
BANDIT_PATHS := chalicelib app.py daskyard images deploy
scan: package
	$(BIN)/bandit -q -c pyproject.toml -r $(BANDIT_PATHS) 2>build/bandit.err; \
		status=$$?; grep -v 'but no failed test' build/bandit.err >&2; exit $$status
	$(BIN)/checkov --config-file .checkov.yaml -f build/$(STAGE)/sam.json
	$(BIN)/python -m deploy.scan_policies

# `pip install .` in a fresh venv: the user package imports with no server dependency
# (-P: the checkout itself is not on the path).
user-install:
	rm -rf build/user-venv && $(PY) -m venv build/user-venv
	build/user-venv/bin/pip install -q -c constraints.txt .
	build/user-venv/bin/python -P -c "import importlib.util as u, daskyard; \
	from daskyard import DaskyardCluster; \
	bad = [m for m in ('moto', 'chalice', 'chalicelib', 'app', 'aws_lambda_powertools', 'slack_sdk') \
	       if u.find_spec(m)]; \
	assert not bad, bad; print('user install: daskyard and DaskyardCluster import;', \
	'none of moto, chalice, chalicelib, app, powertools, slack_sdk installed')"

# Measured figures and docs/BENCHMARKS.md (about 5 minutes on 2 cores).
bench: install
	$(BIN)/pip install -q -c constraints.txt -e '.[dev,bench]'
	$(BIN)/python -m bench

demo: install
	$(BIN)/daskyard demo

serve: install
	$(BIN)/daskyard serve --local

# One CloudFormation template: chalice's Lambdas, API, rules and schedules, merged with
# deploy/template.py's tables, roles, state machines, CodeBuild project and secrets.
package: install
	rm -rf build/$(STAGE) && mkdir -p build/$(STAGE)
	$(BIN)/python -m deploy.template $(STAGE) build/$(STAGE)/merge.json
	$(BIN)/python -m deploy.policies $(STAGE)
	AWS_DEFAULT_REGION=$${AWS_DEFAULT_REGION:-us-east-1} $(BIN)/chalice package --stage $(STAGE) \
		--pkg-format cloudformation --merge-template build/$(STAGE)/merge.json build/$(STAGE)
	$(BIN)/python -m deploy.bytecode build/$(STAGE)  # Lambda's /var/task is read-only: ship .pyc
	$(BIN)/python -m deploy.images build/$(STAGE)/images.zip  # with constraints.txt
	$(BIN)/cfn-lint build/$(STAGE)/sam.json
	@$(BIN)/python -c "import os; print('Lambda package:', round(os.path.getsize('build/$(STAGE)/deployment.zip') / 2**20, 2), 'MiB')"

# Needs the AWS CLI v2 and credentials; BUCKET is an S3 bucket for the artifacts.
deploy: package
	test -n "$(BUCKET)" || (echo "usage: make deploy STAGE=dev BUCKET=my-artifacts-bucket" && false)
	aws s3 cp build/$(STAGE)/images.zip s3://$(BUCKET)/daskyard/$(STAGE)/images.zip
	aws cloudformation package --template-file build/$(STAGE)/sam.json --s3-bucket $(BUCKET) \
		--s3-prefix daskyard/$(STAGE) --output-template-file build/$(STAGE)/packaged.yaml
# The clusters table outlives a deleted stack (Retain): a table of that name the stack
# does not hold is adopted (ExistingClustersTable=true), not made again, which would fail.
	existing=$$(sh deploy/existing-table.sh $(STAGE)); \
	drives=$$(sh deploy/existing-table.sh $(STAGE) DrivesTable drives); \
	echo "ExistingClustersTable=$$existing ExistingDrivesTable=$$drives"; \
	aws cloudformation deploy --template-file build/$(STAGE)/packaged.yaml \
		--stack-name daskyard-$(STAGE) --capabilities CAPABILITY_NAMED_IAM CAPABILITY_AUTO_EXPAND \
		--parameter-overrides ImageSourceLocation=$(BUCKET)/daskyard/$(STAGE)/images.zip \
		ExistingClustersTable=$$existing ExistingDrivesTable=$$drives; \
	$(BIN)/python -m deploy.registry_indexes $(STAGE)
# (An adopted clusters table gets the registry's indexes and TTL the stack gives a new one;
# ended records from before the roll-up index are marked due. Idempotent.)
	aws cloudformation describe-stacks --stack-name daskyard-$(STAGE) --query 'Stacks[0].Outputs'

# After `make deploy`: the stage's preflight (an admin's credentials), then a cluster made,
# computed on and destroyed through API (e.g. https://<id>.execute-api.<region>.amazonaws.com/api).
# CIDR: where this machine reaches the scheduler from, if the stage allows it.
doctor: install
	test -n "$(API)" || (echo "usage: make doctor STAGE=dev API=https://..." && false)
	$(BIN)/daskyard doctor --api $(API)

smoke: install
	test -n "$(API)" || (echo "usage: make smoke STAGE=dev API=https://... [CIDR=203.0.113.7/32]" && false)
	$(BIN)/python -m deploy.smoke --api $(API) --stage $(STAGE) $(if $(CIDR),--cidr $(CIDR))

destroy-stack: install
	$(BIN)/python -m deploy.spares $(STAGE)  # they live outside the stack
	aws cloudformation delete-stack --stack-name daskyard-$(STAGE)
	aws cloudformation wait stack-delete-complete --stack-name daskyard-$(STAGE)
	@echo "kept on purpose: the daskyard-$(STAGE)-clusters table (Retain; make deploy adopts it) and the ECR repositories"

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
