// Package buildinfo names the build every Palyra binary reports.
package buildinfo

// Version is set at link time with -ldflags "-X github.com/palyra/palyra/internal/buildinfo.Version=...".
var Version = "0.1.0-dev"
