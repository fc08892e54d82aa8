package main

import (
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"time"
)

// stackEnv is the environment for our binary with its state in home and every port 0.
func stackEnv(home string) []string {
	return append(os.Environ(),
		"PALYRA_HOME="+home,
		"PALYRA_ADMIN_ADDR=127.0.0.1:0",
		"PALYRA_NODE_ADDR=127.0.0.1:0",
		"PALYRA_BROWSERD_ADDR=127.0.0.1:0",
	)
}

// startServe starts `palyra-tui serve` in the foreground of its own process group.
func startServe(tuiBin, home string, env []string) (*proc, error) {
	out, err := os.Create(filepath.Join(home, "bench-serve.out"))
	if err != nil {
		return nil, err
	}
	defer out.Close()
	cmd := exec.Command(tuiBin, "serve")
	cmd.Env, cmd.Stdout, cmd.Stderr = env, out, out
	return startProc("palyra-tui serve", cmd)
}

// statusJSON is the part of `palyra-tui status --json` the benchmark reads.
type statusJSON struct {
	Overall  string        `json:"overall"`
	Reasons  []string      `json:"reasons"`
	Services []serviceJSON `json:"services"`
}

type serviceJSON struct {
	Name  string `json:"name"`
	State string `json:"state"`
	PID   int    `json:"pid"`
}

func (s statusJSON) service(name string) serviceJSON {
	for _, svc := range s.Services {
		if svc.Name == name {
			return svc
		}
	}
	return serviceJSON{}
}

// stackStatus runs `palyra-tui status --json`. Its exit status says degraded or down, which
// the JSON says too, so only undecodable output is an error.
func stackStatus(tuiBin string, env []string) (statusJSON, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, tuiBin, "status", "--json")
	cmd.Env = env
	b, _ := cmd.Output()
	var st statusJSON
	err := json.Unmarshal(b, &st)
	return st, err
}
