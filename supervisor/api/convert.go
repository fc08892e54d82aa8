package api

import (
	"math"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	palyrav1 "github.com/palyra/palyra/proto/palyra/v1"
	"github.com/palyra/palyra/supervisor"
	"github.com/palyra/palyra/supervisor/logs"
)

func ts(t time.Time) *timestamppb.Timestamp {
	if t.IsZero() {
		return nil
	}
	return timestamppb.New(t)
}

func fromTS(p *timestamppb.Timestamp) time.Time {
	if p == nil {
		return time.Time{}
	}
	return p.AsTime().Local()
}

func snapshotToProto(s supervisor.Snapshot) *palyrav1.Snapshot {
	out := &palyrav1.Snapshot{
		GeneratedAt: ts(s.GeneratedAt),
		Overall:     string(s.Overall),
		Reasons:     s.Reasons,
		Supervisor: &palyrav1.SupervisorInfo{
			Pid:        int32(s.Supervisor.PID),
			Version:    s.Supervisor.Version,
			Home:       s.Supervisor.Home,
			Socket:     s.Supervisor.Socket,
			StartedAt:  ts(s.Supervisor.StartedAt),
			CpuPercent: s.Supervisor.CPUPercent,
			RssBytes:   s.Supervisor.RSSBytes,
		},
	}
	for _, svc := range s.Services {
		out.Services = append(out.Services, statusToProto(svc))
	}
	return out
}

func snapshotFromProto(p *palyrav1.Snapshot) supervisor.Snapshot {
	s := supervisor.Snapshot{
		GeneratedAt: fromTS(p.GetGeneratedAt()),
		Overall:     supervisor.Overall(p.GetOverall()),
		Reasons:     p.GetReasons(),
	}
	if info := p.GetSupervisor(); info != nil {
		s.Supervisor = supervisor.Info{
			PID:        int(info.GetPid()),
			Version:    info.GetVersion(),
			Home:       info.GetHome(),
			Socket:     info.GetSocket(),
			StartedAt:  fromTS(info.GetStartedAt()),
			CPUPercent: info.GetCpuPercent(),
			RSSBytes:   info.GetRssBytes(),
		}
	}
	for _, svc := range p.GetServices() {
		s.Services = append(s.Services, statusFromProto(svc))
	}
	return s
}

func statusesFromProto(in []*palyrav1.ServiceStatus) []supervisor.ServiceStatus {
	out := make([]supervisor.ServiceStatus, 0, len(in))
	for _, s := range in {
		out = append(out, statusFromProto(s))
	}
	return out
}

func statusToProto(s supervisor.ServiceStatus) *palyrav1.ServiceStatus {
	p := &palyrav1.ServiceStatus{
		Name:         s.Name,
		State:        string(s.State),
		Health:       string(s.Health),
		HealthDetail: s.HealthDetail,
		Pid:          int32(s.PID),
		Addrs:        s.Addrs,
		StartedAt:    ts(s.StartedAt),
		Restarts:     uint32(s.Restarts),
		Attempt:      uint32(s.Attempt),
		NextRestart:  ts(s.NextRestart),
		CpuPercent:   s.CPUPercent,
		RssBytes:     s.RSSBytes,
		Command:      s.Command,
		LogFile:      s.LogFile,
		DroppedLines: s.DroppedLines,
		Reason:       s.Reason,
		Version:      s.Version,
	}
	if s.LastExit != nil {
		p.LastExit = exitToProto(*s.LastExit)
	}
	for _, e := range s.RecentExits {
		p.RecentExits = append(p.RecentExits, exitToProto(e))
	}
	return p
}

func statusFromProto(p *palyrav1.ServiceStatus) supervisor.ServiceStatus {
	s := supervisor.ServiceStatus{
		Name:         p.GetName(),
		State:        supervisor.State(p.GetState()),
		Health:       supervisor.Health(p.GetHealth()),
		HealthDetail: p.GetHealthDetail(),
		PID:          int(p.GetPid()),
		Addrs:        p.GetAddrs(),
		StartedAt:    fromTS(p.GetStartedAt()),
		Restarts:     int(p.GetRestarts()),
		Attempt:      int(p.GetAttempt()),
		NextRestart:  fromTS(p.GetNextRestart()),
		CPUPercent:   p.GetCpuPercent(),
		RSSBytes:     p.GetRssBytes(),
		Command:      p.GetCommand(),
		LogFile:      p.GetLogFile(),
		DroppedLines: p.GetDroppedLines(),
		Reason:       p.GetReason(),
		Version:      p.GetVersion(),
	}
	if e := p.GetLastExit(); e != nil {
		x := exitFromProto(e)
		s.LastExit = &x
	}
	for _, e := range p.GetRecentExits() {
		s.RecentExits = append(s.RecentExits, exitFromProto(e))
	}
	return s
}

func exitToProto(e supervisor.Exit) *palyrav1.Exit {
	return &palyrav1.Exit{
		At:          ts(e.At),
		Code:        int32(e.Code),
		Signal:      e.Signal,
		RanSeconds:  e.Ran.Seconds(),
		Description: e.String(),
	}
}

func exitFromProto(p *palyrav1.Exit) supervisor.Exit {
	return supervisor.Exit{
		At:     fromTS(p.GetAt()),
		Code:   int(p.GetCode()),
		Signal: p.GetSignal(),
		// Rounded: truncating would turn some durations into one nanosecond less.
		Ran: time.Duration(math.Round(p.GetRanSeconds() * float64(time.Second))),
	}
}

// linesToProto converts a batch with one allocation for all its lines: under a log flood the
// per-line garbage, not the encoding, is what the collector pays for.
func linesToProto(in []logs.Line) []*palyrav1.LogLine {
	msgs := make([]palyrav1.LogLine, len(in))
	out := make([]*palyrav1.LogLine, len(in))
	for i, l := range in {
		m := &msgs[i]
		m.Seq = l.Seq
		m.UnixNano = l.Time.UnixNano()
		m.Service = l.Service
		m.Stream = string(l.Stream)
		m.Level = l.Level
		m.Text = l.Text
		out[i] = m
	}
	return out
}

func linesFromProto(in []*palyrav1.LogLine) []logs.Line {
	out := make([]logs.Line, len(in))
	for i, l := range in {
		out[i] = logs.Line{
			Seq:     l.GetSeq(),
			Time:    time.Unix(0, l.GetUnixNano()),
			Service: l.GetService(),
			Stream:  logs.Stream(l.GetStream()),
			Level:   l.GetLevel(),
			Text:    l.GetText(),
		}
	}
	return out
}

func checksToProto(in []supervisor.Check) []*palyrav1.Check {
	out := make([]*palyrav1.Check, 0, len(in))
	for _, c := range in {
		out = append(out, &palyrav1.Check{Key: c.Key, Label: c.Label, Status: string(c.Status), Detail: c.Detail, Fix: c.Fix})
	}
	return out
}

func checksFromProto(in []*palyrav1.Check) []supervisor.Check {
	out := make([]supervisor.Check, 0, len(in))
	for _, c := range in {
		out = append(out, supervisor.Check{Key: c.GetKey(), Label: c.GetLabel(), Status: supervisor.CheckStatus(c.GetStatus()), Detail: c.GetDetail(), Fix: c.GetFix()})
	}
	return out
}
