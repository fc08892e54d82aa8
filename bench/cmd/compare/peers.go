package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// job is one program a supervisor is to run: always the benchmark child, told what to do by
// its environment.
type job struct {
	name    string
	env     []string // BENCH_CHILD_*
	restart bool     // restart it whenever it exits
	logFile string   // where its stdout and stderr go (peers only; ours has its own store)
}

// launcher starts a supervisor running jobs, with its files in dir.
type launcher func(dir string, jobs []job) (*proc, error)

// system is one supervisor under comparison.
type system struct {
	name   string
	launch launcher
	err    error // why it cannot run here; launch is nil then
}

// supervisordSystem runs supervisord in the foreground on its own configuration and socket,
// with the settings that restart fastest: autorestart, startsecs=0 (a process counts as
// started at once, so exits never back off) and no limit worth reaching on retries.
func supervisordSystem(bin, child string) system {
	s := system{name: "supervisord"}
	if bin == "" {
		s.err = unavailable{"not installed (scripts/install-tools.sh --bench)"}
		return s
	}
	s.launch = func(dir string, jobs []job) (*proc, error) {
		var b strings.Builder
		fmt.Fprintf(&b, "[unix_http_server]\nfile=%s\nchmod=0700\n\n", filepath.Join(dir, "supervisord.sock"))
		fmt.Fprintf(&b, "[supervisord]\nnodaemon=true\nlogfile=%s\npidfile=%s\nchildlogdir=%s\nloglevel=warn\n\n",
			filepath.Join(dir, "supervisord.log"), filepath.Join(dir, "supervisord.pid"), dir)
		b.WriteString("[rpcinterface:supervisor]\nsupervisor.rpcinterface_factory = supervisor.rpcinterface:make_main_rpcinterface\n\n")
		for _, j := range jobs {
			var env []string
			for _, kv := range j.env {
				k, v, _ := strings.Cut(kv, "=")
				env = append(env, k+"="+strconv.Quote(v))
			}
			fmt.Fprintf(&b, "[program:%s]\ncommand=%s\nenvironment=%s\n", j.name, child, strings.Join(env, ","))
			fmt.Fprintf(&b, "autostart=true\nautorestart=%t\nstartsecs=0\nstartretries=100000\n", j.restart)
			b.WriteString("stopasgroup=true\nkillasgroup=true\nstopwaitsecs=5\nredirect_stderr=true\n")
			// maxbytes=0 turns rotation off, so the file holds every line.
			fmt.Fprintf(&b, "stdout_logfile=%s\nstdout_logfile_maxbytes=0\nstdout_logfile_backups=0\n\n", j.logFile)
		}
		conf := filepath.Join(dir, "supervisord.conf")
		if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
			return nil, err
		}
		out, err := os.Create(filepath.Join(dir, "supervisord.out"))
		if err != nil {
			return nil, err
		}
		defer out.Close()
		cmd := exec.Command(bin, "-n", "-c", conf)
		cmd.Dir = dir
		cmd.Stdout, cmd.Stderr = out, out
		return startProc("supervisord", cmd)
	}
	return s
}

// processComposeSystem runs process-compose headless (-t=false) unless tui, on a unix socket
// in dir so it never takes port 8080. Its restart backoff has a floor of one second
// (getBackoff in src/app/process.go), so its restart figure includes that second.
func processComposeSystem(bin string, missing error, child string) system {
	s := system{name: "process-compose"}
	if bin == "" {
		s.err = missing
		return s
	}
	s.launch = func(dir string, jobs []job) (*proc, error) {
		cmd, err := processComposeCmd(bin, child, dir, jobs, false)
		if err != nil {
			return nil, err
		}
		return startProc("process-compose", cmd)
	}
	return s
}

// processComposeCmd writes the configuration and builds the command line; the TUI variant is
// started inside tmux by the caller.
func processComposeCmd(bin, child, dir string, jobs []job, tui bool) (*exec.Cmd, error) {
	var b strings.Builder
	b.WriteString("version: \"0.5\"\nprocesses:\n")
	for _, j := range jobs {
		fmt.Fprintf(&b, "  %s:\n    command: %s\n    environment:\n", j.name, strconv.Quote(child))
		for _, kv := range j.env {
			fmt.Fprintf(&b, "      - %s\n", strconv.Quote(kv))
		}
		restart := "no"
		if j.restart {
			restart = "always"
		}
		fmt.Fprintf(&b, "    availability:\n      restart: %q\n      backoff_seconds: 1\n", restart)
		if j.logFile != "" {
			fmt.Fprintf(&b, "    log_location: %s\n", strconv.Quote(j.logFile))
		}
	}
	conf := filepath.Join(dir, "process-compose.yaml")
	if err := os.WriteFile(conf, []byte(b.String()), 0o600); err != nil {
		return nil, err
	}
	args := []string{"up", "-f", conf, "--disable-dotenv", "-U", "-u", filepath.Join(dir, "pc.sock"),
		"-L", filepath.Join(dir, "process-compose-internal.log"), "--keep-project"}
	if !tui {
		args = append(args, "-t=false")
	}
	cmd := exec.Command(bin, args...)
	cmd.Dir = dir
	// Its settings (sort order, theme) go here rather than into the user's config.
	cmd.Env = append(os.Environ(), "XDG_CONFIG_HOME="+dir)
	return cmd, nil
}
