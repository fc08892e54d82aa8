// Package echotest runs the conformance suite against Echo, in process or as a plugin.
package echotest

import (
	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
)

// Harness is the conformance harness of an Echo provider run as plug.
func Harness(plug platform.Plugin) conformance.Harness {
	return conformance.Harness{
		Kind:         echo.Kind,
		Plugin:       plug,
		Conversation: "general",
		Fault:        fault,
		Delivered:    conformance.ReadDelivered(plug, "general"),
	}
}

func fault(f conformance.Fault, text string) string {
	switch f {
	case conformance.RateLimitedOnce:
		return text + " [rate-limit-once]"
	case conformance.RestartingOnce:
		return text + " [restart-once]"
	case conformance.Refused:
		return text + " [nack]"
	case conformance.AlwaysRateLimited:
		return text + " [rate-limit-always]"
	}
	return text
}
