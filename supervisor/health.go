package supervisor

import (
	"context"
	"crypto/tls"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"

	"github.com/palyra/palyra/internal/grpcserve"
	"github.com/palyra/palyra/internal/textsafe"
)

const probeTimeout = time.Second

type probeTarget struct {
	svc     *service
	run     *run
	addr    string
	healthy bool
}

// probeLoop checks the health of every running service, with one connection per run: every
// Tick until it is healthy, then every HealthyProbe. Most of an idle stack's CPU went into
// probes of services that were fine; a crash is noticed at once anyway, through Wait. The
// loop sleeps until the next probe is due, so a healthy stack wakes it once a HealthyProbe.
func (s *Supervisor) probeLoop(ctx context.Context) {
	conns := make(map[*run]*grpc.ClientConn)
	lastProbe := make(map[*run]time.Time)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	due := time.NewTimer(s.policy.Tick)
	defer due.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-due.C:
			s.probeAll(ctx, conns, lastProbe, false)
		case <-s.probeSoon:
			s.probeAll(ctx, conns, lastProbe, true)
		}
		due.Reset(s.policy.nextProbeIn(s.probeTargets(), lastProbe, time.Now()))
	}
}

// nextProbeIn is how long after now the first of targets is due for a probe; HealthyProbe
// when there are none, since a service that becomes ready asks for one (requestProbe).
func (p Policy) nextProbeIn(targets []probeTarget, lastProbe map[*run]time.Time, now time.Time) time.Duration {
	wait := p.HealthyProbe
	for _, t := range targets {
		period := p.Tick
		if t.healthy {
			period = p.HealthyProbe
		}
		wait = min(wait, lastProbe[t.run].Add(period).Sub(now))
	}
	return max(wait, 0)
}

// requestProbe schedules a probe before the next tick without waiting for it.
func (s *Supervisor) requestProbe() {
	select {
	case s.probeSoon <- struct{}{}:
	default:
	}
}

func (s *Supervisor) probeAll(ctx context.Context, conns map[*run]*grpc.ClientConn, lastProbe map[*run]time.Time, all bool) {
	live := make(map[*run]bool)
	now := time.Now()
	var wg sync.WaitGroup
	for _, t := range s.probeTargets() {
		live[t.run] = true
		if !all && t.healthy && now.Sub(lastProbe[t.run]) < s.policy.HealthyProbe {
			continue
		}
		lastProbe[t.run] = now
		if t.addr == "" {
			s.setHealth(t, HealthUnknown, fmt.Sprintf("the ready line has no %q address", t.svc.spec.HealthAddr))
			continue
		}
		conn := conns[t.run]
		if conn == nil {
			c, err := dialHealth(t.addr, t.svc.spec.HealthTLS)
			if err != nil {
				s.setHealth(t, HealthUnhealthy, err.Error())
				continue
			}
			conns[t.run], conn = c, c
		}
		wg.Go(func() {
			health, detail := checkHealth(ctx, conn)
			if ctx.Err() == nil {
				s.setHealth(t, health, detail)
			}
		})
	}
	wg.Wait()
	for r, c := range conns {
		if !live[r] {
			c.Close()
			delete(conns, r)
		}
	}
	for r := range lastProbe {
		if !live[r] {
			delete(lastProbe, r)
		}
	}
}

func (s *Supervisor) probeTargets() []probeTarget {
	s.mu.Lock()
	defer s.mu.Unlock()
	var targets []probeTarget
	for _, svc := range s.services {
		if svc.spec.HealthAddr == "" || svc.current == nil || svc.status.State != StateRunning {
			continue
		}
		targets = append(targets, probeTarget{
			svc:     svc,
			run:     svc.current,
			addr:    svc.status.Addrs[svc.spec.HealthAddr],
			healthy: svc.status.Health == HealthHealthy,
		})
	}
	return targets
}

// dialHealth prepares the probe connection to addr, with TLS when tlsConfig is set.
func dialHealth(addr string, tlsConfig func() (*tls.Config, error)) (*grpc.ClientConn, error) {
	creds := insecure.NewCredentials()
	if tlsConfig != nil {
		cfg, err := tlsConfig()
		if err != nil {
			return nil, err
		}
		creds = credentials.NewTLS(cfg)
	}
	return grpc.NewClient("passthrough:///"+addr, grpc.WithTransportCredentials(creds))
}

// checkHealth asks the service's overall health. A service that is up but cannot do its
// work answers NOT_SERVING and says why in grpcserve.HealthDetailKey, which becomes the
// detail; without one the detail is the status's name.
func checkHealth(ctx context.Context, conn *grpc.ClientConn) (Health, string) {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	var header metadata.MD
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{}, grpc.Header(&header))
	if err != nil {
		return HealthUnhealthy, status.Convert(err).Message()
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		if d := header.Get(grpcserve.HealthDetailKey); len(d) > 0 && d[0] != "" {
			return HealthUnhealthy, clipDetail(d[0])
		}
		return HealthUnhealthy, resp.GetStatus().String()
	}
	return HealthHealthy, ""
}

// setHealth records a probe result if the probed run is still the running one.
func (s *Supervisor) setHealth(t probeTarget, health Health, detail string) {
	s.mu.Lock()
	st := &t.svc.status
	current := t.svc.current == t.run && st.State == StateRunning
	changed := current && (st.Health != health || st.HealthDetail != detail)
	flipped := current && st.Health != health
	if changed {
		st.Health, st.HealthDetail = health, detail
	}
	s.mu.Unlock()
	if flipped {
		note := "health: " + string(health)
		if detail != "" {
			note += " (" + detail + ")"
		}
		s.logs.Note(t.svc.spec.Name, note)
	}
	if changed {
		s.notify()
	}
}

// maxHealthDetail bounds the detail a service may put in the supervisor's status.
const maxHealthDetail = 512

func clipDetail(s string) string {
	s = textsafe.Clean(s) // from the service: made valid UTF-8, without controls
	if len(s) <= maxHealthDetail {
		return s
	}
	cut := maxHealthDetail
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
