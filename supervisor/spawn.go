package supervisor

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/palyra/palyra/internal/childenv"
	"github.com/palyra/palyra/internal/ready"
	"github.com/palyra/palyra/supervisor/logs"
)

// drainGrace is how long the output pipes stay open after a child's group is gone. Only a
// process that left the group can still hold them, and its output is not worth a goroutine.
const drainGrace = 2 * time.Second

// run is one execution of a service's process.
type run struct {
	pid       int
	startedAt time.Time
	ready     chan ready.Line // receives the first ready line, once
	exited    chan Exit       // receives the exit, once
	captured  chan struct{}   // closed when all its output is in the log store

	// Owned by the service's actor.
	terminating   bool   // SIGTERM sent
	stopRequested bool   // an operator or shutdown asked it to stop
	failure       string // set when the supervisor stopped it for misbehaving
}

type spawnRequest struct {
	cmd  *exec.Cmd
	done chan error
}

var (
	spawnerOnce sync.Once
	spawnReqs   chan spawnRequest
)

// startCmd starts cmd from the spawner thread.
func startCmd(cmd *exec.Cmd) error {
	spawnerOnce.Do(func() {
		spawnReqs = make(chan spawnRequest)
		go serveSpawns(spawnReqs)
	})
	done := make(chan error, 1)
	spawnReqs <- spawnRequest{cmd: cmd, done: done}
	return <-done
}

// serveSpawns forks every child from one OS thread that never exits. Pdeathsig fires when the
// thread that forked the child exits, not the process, and the Go runtime retires threads
// freely; a thread locked by a goroutine that never returns lives as long as the process.
func serveSpawns(reqs <-chan spawnRequest) {
	runtime.LockOSThread()
	for r := range reqs {
		r.done <- r.cmd.Start()
	}
}

// startRun spawns spec's process in its own process group with its output captured into
// store. Our own pipes (not exec's) let Wait return as soon as the child exits, even while
// something else still holds the write ends.
func (s *Supervisor) startRun(spec Spec) (*run, error) {
	outR, outW, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return nil, err
	}
	cmd := exec.Command(spec.Path, spec.Args...)
	cmd.Args[0] = spec.argv0()
	cmd.Env = append(childenv.Filter(os.Environ()), spec.Env...)
	var runMarker string
	if s.info.Home != "" {
		runMarker = marker(s.info.Home, fmt.Sprintf("%s.%d.%d", spec.Name, os.Getpid(), s.runSeq.Add(1)))
		cmd.Env = append(cmd.Env, runMarker)
	}
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	err = startCmd(cmd)
	outW.Close()
	errW.Close()
	if err != nil {
		outR.Close()
		errR.Close()
		return nil, err
	}
	r := &run{
		pid:       cmd.Process.Pid,
		startedAt: time.Now(),
		ready:     make(chan ready.Line, 1),
		exited:    make(chan Exit, 1),
		captured:  make(chan struct{}),
	}
	if s.onSpawned != nil {
		s.onSpawned(r.startedAt)
	}

	var captures sync.WaitGroup
	captures.Go(func() {
		s.logs.Capture(spec.Name, logs.Stdout, outR, func(text []byte) bool {
			l, ok := ready.Parse(text)
			if ok {
				r.ready <- l
			}
			return ok
		})
	})
	captures.Go(func() { s.logs.Capture(spec.Name, logs.Stderr, errR, nil) })
	captured := r.captured
	go func() {
		captures.Wait()
		close(captured)
	}()

	s.runs.Go(func() {
		cmd.Wait() // the exit status is in cmd.ProcessState
		at := time.Now()
		if s.onExitNoticed != nil {
			s.onExitNoticed(at)
		}
		// No orphans: whatever the child left behind in its group goes with it.
		syscall.Kill(-r.pid, syscall.SIGKILL)
		r.exited <- exitOf(cmd.ProcessState, r.startedAt, at)

		select {
		case <-captured:
		case <-time.After(drainGrace):
		}
		outR.Close()
		errR.Close()
		<-captured
		// And what left the group. The scan of /proc waits until the exit is reported and the
		// output drained, off the path of a restart.
		if runMarker != "" {
			reapRun(runMarker)
		}
	})
	return r, nil
}

func exitOf(ps *os.ProcessState, startedAt, at time.Time) Exit {
	e := Exit{At: at, Code: -1, Ran: at.Sub(startedAt)}
	if ps == nil {
		return e
	}
	e.Code = ps.ExitCode()
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		e.Signal = unix.SignalName(ws.Signal())
	}
	return e
}
