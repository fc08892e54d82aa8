package engine

import (
	"fmt"
	"time"
)

// budget limits a session's actions: at most max over its life and perSecond in any
// one-second window.
type budget struct {
	max, perSecond int
	used           int
	window         []time.Time // times of the actions in the last second
}

// take spends one action at now, or says which limit stops it.
func (b *budget) take(now time.Time) error {
	if b.used >= b.max {
		return fmt.Errorf("%w: %d actions, the most a session may take", ErrBudget, b.max)
	}
	cut := 0
	for cut < len(b.window) && now.Sub(b.window[cut]) >= time.Second {
		cut++
	}
	b.window = b.window[cut:]
	if len(b.window) >= b.perSecond {
		return fmt.Errorf("%w: more than %d actions a second; retry shortly", ErrBudget, b.perSecond)
	}
	b.window = append(b.window, now)
	b.used++
	return nil
}
