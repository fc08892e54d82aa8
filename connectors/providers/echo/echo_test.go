package echo_test

import (
	"testing"

	"github.com/palyra/palyra/connectors/conformance"
	"github.com/palyra/palyra/connectors/platform"
	"github.com/palyra/palyra/connectors/providers/echo"
	"github.com/palyra/palyra/connectors/providers/echo/echotest"
)

func TestConformance(t *testing.T) {
	conformance.Run(t, echotest.Harness(platform.InProcess(echo.Kind, echo.New("test"))))
}
