# ATUM Ops Console. `make demo` runs it on local services; `make test` runs
# every check CI runs. Both install what is missing (Debian, as root).

BIN      := bin/atum-console
VERSION  ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -s -w -X main.version=$(VERSION)
GOTEST   := go test -p 2 -count=1 -timeout 12m

.PHONY: all build deps deps-browser deps-python generate lint test bench demo clean

all: build

build:
	CGO_ENABLED=0 go build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

deps:
	bash scripts/install-deps.sh

deps-browser:
	bash scripts/install-deps.sh --browser

# Debian's Python with psycopg and pytest, for the platform agent
# (platform/python); deps-browser installs it too.
deps-python:
	bash scripts/install-deps.sh --python

generate:
	go tool templ generate

# lint fails on unformatted code, vet findings, a go.mod or go.sum that
# `go mod tidy` would change, unformatted templates and generated templ
# files that do not match their sources.
lint:
	@out=$$(gofmt -l $$(git ls-files --cached --others --exclude-standard '*.go')); \
	  if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	go vet ./...
	go mod tidy -diff || { echo "go.mod/go.sum are not tidy: run 'go mod tidy' and commit"; exit 1; }
	go tool templ fmt -fail .
	@before=$$(cat $$(git ls-files --cached --others --exclude-standard '*_templ.go') | sha256sum); \
	  go tool templ generate >/dev/null 2>&1 || { echo "templ generate failed"; exit 1; }; \
	  after=$$(cat $$(git ls-files --cached --others --exclude-standard '*_templ.go') | sha256sum); \
	  if [ "$$before" != "$$after" ]; then echo "generated *_templ.go files were not up to date: run 'make generate' and commit"; exit 1; fi

test: deps-browser lint
	$(GOTEST) ./...

bench: deps deps-python build
	go run ./internal/loadgen -bin $(BIN)
	go test -count=1 -timeout 20m -run 'TestFleetWideRestartRaisesNothing|TestNotificationsIndependentOfInstances' \
	  -bench BenchmarkEvaluate -benchtime 20x -v ./internal/alerts/rules/
	go test -count=1 -run '^$$' -bench 'BenchmarkPurge10000|BenchmarkRetry10000' -benchtime 1x -v ./internal/qstash/
	go test -run '^$$' -bench BenchmarkSearch1M -benchtime 1x ./internal/accounts/
	go test -count=1 -run '^$$' -bench BenchmarkPythonAgent -benchtime 1x -v ./internal/platformagent/

demo: deps build
	./$(BIN) demo

clean:
	rm -rf bin .demo
