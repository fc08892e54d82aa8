package main

import (
	"bytes"
	"testing"

	"github.com/palyra/palyra/supervisor"
)

func TestDoctorColumnsAlign(t *testing.T) {
	var b bytes.Buffer
	printChecks(&b, []supervisor.Check{
		{Status: supervisor.CheckOK, Label: "State directory", Detail: "/h is writable"},
		{Status: supervisor.CheckBlocked, Label: "daemon admin API port", Detail: "127.0.0.1:7443 is already in use by pid 812 (palyrad)",
			Fix: "stop what holds it"},
		{Status: supervisor.CheckWarning, Label: "Chromium\x1b[2J", Detail: "none", Fix: "apt-get install chromium"},
	})
	want := "" +
		"ok       State directory        /h is writable\n" +
		"blocked  daemon admin API port  127.0.0.1:7443 is already in use by pid 812 (palyrad)\n" +
		"                                fix: stop what holds it\n" +
		"warning  Chromium               none\n" +
		"                                fix: apt-get install chromium\n"
	if b.String() != want {
		t.Errorf("doctor:\n%s\nwant:\n%s", b.String(), want)
	}
}
