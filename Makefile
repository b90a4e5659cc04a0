# Build, test and run the provisioning functions.
# `make test` runs everything CI runs; `make invoke` runs a function locally.

GO ?= go

.PHONY: test lint invoke

# Every test: unit tests and the integration tests, which start their own
# moto_server on a free loopback port.
test: lint
	$(GO) test -count=1 ./...

lint:
	@unformatted=$$(gofmt -l .); \
	if [ -n "$$unformatted" ]; then echo "gofmt would change: $$unformatted"; exit 1; fi
	$(GO) vet ./...

invoke:
	@echo "make invoke (build a function and run it locally against moto) arrives with the local-run issue;"; \
	echo "until then, 'make test' exercises the core against a local moto_server."; exit 2
