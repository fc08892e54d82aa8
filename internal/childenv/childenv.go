// Package childenv is the environment Palyra hands to the processes it starts (the
// background supervisor, palyrad, palyra-browserd, a supervised palyra-node): an allow-list
// of what a program needs to run, never a secret. A token or a pairing code given to one
// client command would otherwise sit in /proc/<pid>/environ of every service for its whole
// life.
package childenv

import "strings"

// PassEnv names the variable in which an operator lists more variables to hand on,
// separated by commas or spaces; NAME_* stands for every name with that prefix.
const PassEnv = "PALYRA_PASS_ENV"

// allowedNames are handed on as they are.
var allowedNames = map[string]bool{
	"PATH": true, "HOME": true, "USER": true, "LOGNAME": true, "LANG": true, "TZ": true,
	"TMPDIR": true, "NO_COLOR": true, "SSL_CERT_FILE": true, "SSL_CERT_DIR": true,
	// Go runtime settings; GORACE and GOCOVERDIR are how tests see into the services.
	"GORACE": true, "GOCOVERDIR": true, "GOTRACEBACK": true, "GODEBUG": true, "GOGC": true,
	"GOMEMLIMIT": true, "GOMAXPROCS": true,
}

// allowedPrefixes are handed on by prefix: locale, XDG directories and Palyra's settings.
var allowedPrefixes = []string{"LC_", "XDG_", "PALYRA_"}

// secretMarkers make a name a secret's, whatever the allow-list says.
var secretMarkers = []string{"TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "KEY", "CREDENTIAL", "PAIR_CODE"}

// Filter returns the entries of environ ("NAME=value", as os.Environ gives them) a child may
// have: the allow-list and the names in PALYRA_PASS_ENV, less every name that looks like a
// secret's.
func Filter(environ []string) []string {
	extra := passed(environ)
	out := make([]string, 0, len(environ))
	for _, kv := range environ {
		name, _, ok := strings.Cut(kv, "=")
		if ok && allowed(name, extra) {
			out = append(out, kv)
		}
	}
	return out
}

// allowed reports whether a child may have the variable name, given the operator's extra
// names (PALYRA_PASS_ENV).
func allowed(name string, extra []string) bool {
	if name == "" || secret(name) {
		return false
	}
	if allowedNames[name] || hasAnyPrefix(name, allowedPrefixes) {
		return true
	}
	for _, e := range extra {
		if e == name {
			return true
		}
		if prefix, ok := strings.CutSuffix(e, "*"); ok && prefix != "" && strings.HasPrefix(name, prefix) {
			return true
		}
	}
	return false
}

// secret reports whether name looks like a secret's: PALYRA_TOKEN, PALYRA_PAIR_CODE, or
// anything naming a token, secret, password, key or credential, in any case.
func secret(name string) bool {
	upper := strings.ToUpper(name)
	for _, m := range secretMarkers {
		if strings.Contains(upper, m) {
			return true
		}
	}
	return false
}

// passed returns the names listed in PALYRA_PASS_ENV.
func passed(environ []string) []string {
	var list string
	for _, kv := range environ {
		if v, ok := strings.CutPrefix(kv, PassEnv+"="); ok {
			list = v
		}
	}
	return strings.FieldsFunc(list, func(r rune) bool { return r == ',' || r == ' ' })
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}
