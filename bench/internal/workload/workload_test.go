package workload

import (
	"fmt"
	"strings"
	"testing"
)

func TestCounterFindsLinesSplitAnywhere(t *testing.T) {
	var b strings.Builder
	for seq := range 50 {
		fmt.Fprintf(&b, `{"message":"%s%09d xxxx"}`+"\n", Marker, seq)
	}
	fmt.Fprintf(&b, "%s%09d dup\n", Marker, 7)
	stream := []byte(b.String())
	for _, size := range []int{1, 2, 3, 7, 19, 20, 21, 64, len(stream)} {
		t.Run(fmt.Sprint("chunk ", size), func(t *testing.T) {
			c := NewCounter(50)
			for p := stream; len(p) > 0; {
				n := min(size, len(p))
				c.Write(p[:n])
				p = p[n:]
			}
			if c.Total != 51 || c.Unique != 50 {
				t.Fatalf("total %d unique %d, want 51 and 50", c.Total, c.Unique)
			}
		})
	}
}
