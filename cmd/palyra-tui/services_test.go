package main

import (
	"context"
	"os"
	"path/filepath"
	"testing"
)

func TestServicesUnknownNameIsAUsageError(t *testing.T) {
	home := t.TempDir()
	for _, verb := range []string{"start", "stop", "restart"} {
		runCLI(t, context.Background(), nil, "--home", home, "services", verb, "nosuch").
			expect(t, exitUsage, `unknown service "nosuch"`, "daemon, browserd, all")
	}
	if _, err := os.Stat(filepath.Join(home, "serve.log")); err == nil {
		t.Error("a mistyped service name started a supervisor")
	}
}
