# Build, test and run the provisioning functions.
#   make invoke   build a function and run it locally against a local Secrets Manager
#   make test     every test (what CI runs)
# sam build calls the build-<LogicalId> targets with ARTIFACTS_DIR set.

GO ?= go

# Lambda runs Linux on the template's Architecture parameter: arm64 (the
# default) or x86_64. sam build runs these targets with nothing but
# ARTIFACTS_DIR set, so the choice reaches them as ARCHITECTURE, from the
# environment or the command line, and must match the parameter:
#   ARCHITECTURE=x86_64 sam build --parameter-overrides Architecture=x86_64
# GOOS and GOARCH are not read from the environment, so a GOARCH exported in
# a shell cannot slip into a deployment; `make build` and the tests
# override them on the command line for this machine.
ARCHITECTURE ?= arm64
LAMBDA_GOOS := linux
ifeq ($(ARCHITECTURE),arm64)
LAMBDA_GOARCH := arm64
else ifeq ($(ARCHITECTURE),x86_64)
LAMBDA_GOARCH := amd64
else
$(error ARCHITECTURE must be arm64 or x86_64, as the template's Architecture parameter; got "$(ARCHITECTURE)")
endif
HOST_GOOS := $(shell $(GO) env GOOS)
HOST_GOARCH := $(shell $(GO) env GOARCH)

FUNCTIONS := CustomResourceFunction HttpApiFunction EventBridgeFunction RotationHealthFunction
BIN := $(CURDIR)/bin

# make invoke FUNCTION=<LogicalId> EVENT=events/<file>.json [PARAMETERS="Key=Value ..."]
FUNCTION ?= CustomResourceFunction
# Empty: the custom resource's Create with a database user, against a
# throwaway PostgreSQL, where PostgreSQL is installed; else its plain Create.
EVENT ?=
PARAMETERS ?=

# RDS_CA_BUNDLE names a PEM file of the certificate authorities databases'
# certificates chain to (for RDS, AWS's global bundle, downloaded once):
# shipped beside bootstrap as rds-ca-bundle.pem, where the DbCaBundle
# parameter looks by default. Needed only for databases reached with ssl.
RDS_CA_BUNDLE ?=
SHIP_CA_BUNDLE = if [ -n "$(RDS_CA_BUNDLE)" ]; then mkdir -p $(ARTIFACTS_DIR) && cp "$(RDS_CA_BUNDLE)" $(ARTIFACTS_DIR)/rds-ca-bundle.pem; fi

GO_BUILD = @test -n "$(ARTIFACTS_DIR)" || { echo "ARTIFACTS_DIR is not set: sam build sets it; use 'make build' locally"; exit 1; }; \
	$(SHIP_CA_BUNDLE); \
	CGO_ENABLED=0 GOOS=$(LAMBDA_GOOS) GOARCH=$(LAMBDA_GOARCH) $(GO) build -trimpath -tags lambda.norpc -ldflags='-s -w' -o $(ARTIFACTS_DIR)/bootstrap

.PHONY: build test lint fuzz fuzz-short vulncheck invoke api moto bench $(addprefix build-,$(FUNCTIONS))

build-CustomResourceFunction:
	$(GO_BUILD) ./functions/custom-resource

build-HttpApiFunction:
	$(GO_BUILD) ./functions/http-api

build-EventBridgeFunction:
	$(GO_BUILD) ./functions/eventbridge

build-RotationHealthFunction:
	$(GO_BUILD) ./functions/rotation-health

# Every function for this machine, into $(BIN)/<LogicalId>/bootstrap.
build:
	@for f in $(FUNCTIONS); do \
		$(MAKE) --no-print-directory build-$$f ARTIFACTS_DIR=$(BIN)/$$f LAMBDA_GOOS=$(HOST_GOOS) LAMBDA_GOARCH=$(HOST_GOARCH) || exit 1; \
	done

# The local tools run as make's own child (exec, no go run in between), so a
# signal reaches them and they stop what they started.
invoke: build
	@$(GO) build -o $(BIN)/tools/invoke ./local/cmd/invoke
	exec $(BIN)/tools/invoke -template template.yaml -function $(FUNCTION) -event '$(EVENT)' \
		-bootstrap $(BIN)/$(FUNCTION)/bootstrap -parameter-overrides '$(PARAMETERS)' -moto-state $(BIN)/moto-endpoint

# A local Secrets Manager kept running until Ctrl-C; make invoke and make
# api use it while it runs, so what they make stays to look at.
moto:
	@$(GO) build -o $(BIN)/tools/moto ./local/cmd/moto
	exec $(BIN)/tools/moto -state $(BIN)/moto-endpoint

# The HTTP API on http://$(API_ADDR), the stand-in for sam local start-api.
API_ADDR ?= 127.0.0.1:3000
api: build
	@$(GO) build -o $(BIN)/tools/api ./local/cmd/api
	exec $(BIN)/tools/api -template template.yaml -function HttpApiFunction \
		-bootstrap $(BIN)/HttpApiFunction/bootstrap -addr $(API_ADDR) -parameter-overrides '$(PARAMETERS)' \
		-openapi functions/http-api/openapi.json -moto-state $(BIN)/moto-endpoint

# Every test: lint, unit, handler, integration against a moto_server the
# tests start, end to end through the built binaries, all under the race
# detector; then a short run of every fuzz target.
test: lint
	$(GO) test -race -count=1 ./...
	$(MAKE) --no-print-directory fuzz-short

# Every fuzz target: "package target" pairs.
FUZZ_TARGETS := ./shared/provision:FuzzDecodeRequest ./shared/secretspec:FuzzNameAndTags \
	./shared/credential:FuzzPassword ./functions/custom-resource:FuzzEvent \
	./functions/http-api:FuzzEvent ./functions/eventbridge:FuzzEvent ./shared/dbuser:FuzzStatements
FUZZTIME ?= 2m

fuzz-short:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=4s

# Each target for FUZZTIME (make fuzz FUZZTIME=10m); a failing input is
# written under the package's testdata/fuzz and replayed by go test. Every
# target runs even after a failure; the fuzz coordinator's own time-out
# with no reproducer (golang/go#75804) is retried, never a failure.
fuzz:
	@GO=$(GO) bash local/fuzzing/run.sh $(FUZZTIME) $(FUZZ_TARGETS)

# Speed, size and memory against issue 7's budgets, into BENCHMARKS.md;
# fails when a budget is missed. Not part of make test.
bench:
	$(GO) run ./local/cmd/bench

lint: vulncheck
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...
	cfn-lint template.yaml -c I
	npm ci --prefix local/testenv/openapi --no-audit --no-fund --silent
	node local/testenv/openapi/validate.mjs functions/http-api/openapi.json
	@if $(GO) list -m all | grep -q '^github.com/aws/aws-sdk-go '; then echo "the AWS SDK for Go v1 is in the module graph"; exit 1; fi

# govulncheck, installed from the Go module proxy at a pinned version. It
# needs its vulnerability database (vuln.go.dev); where that cannot be
# reached it says so and checks nothing, rather than failing the build.
GOVULNCHECK_VERSION := v1.9.0
TOOLS := $(CURDIR)/bin/tools
$(TOOLS)/govulncheck:
	GOBIN=$(TOOLS) $(GO) install golang.org/x/vuln/cmd/govulncheck@$(GOVULNCHECK_VERSION)

vulncheck: $(TOOLS)/govulncheck
	@out=$$($(TOOLS)/govulncheck ./... 2>&1); status=$$?; \
	if [ $$status -ne 0 ] && echo "$$out" | grep -q "fetching vulnerabilities"; then \
		echo "govulncheck: the vulnerability database (vuln.go.dev) cannot be reached from here; nothing was checked"; \
	else echo "$$out"; exit $$status; fi
