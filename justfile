# Palyra control center: common tasks. `bin/just` is installed by scripts/install-tools.sh.

export PATH := justfile_directory() + "/bin:" + env_var('PATH')

# Build every binary into ./bin.
build:
    go build -o bin/ ./cmd/...

# Run the control center: starts the supervisor in the background if none runs, then the UI.
run *ARGS:
    go run ./cmd/palyra-tui {{ARGS}}

# The README's test command: every package (or the ones given), with the race detector.
test *ARGS:
    scripts/test {{ARGS}}

# The real binary under tmux.
e2e:
    go test -race -count=1 -run 'TestE2E' ./e2e/...

# Benchmarks; prints our figures beside supervisord's and process-compose's.
bench:
    scripts/bench.sh

# Regenerate the Go code from proto/palyra/v1/*.proto.
proto:
    protoc -I proto --go_out=proto --go_opt=paths=source_relative \
        --go-grpc_out=proto --go-grpc_opt=paths=source_relative proto/palyra/v1/*.proto

# Formatting and vet, as CI checks them.
lint:
    test -z "$(gofmt -l $(git ls-files '*.go'))"
    go vet ./...
