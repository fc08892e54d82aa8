package engine

import (
	"context"
	"fmt"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"
)

// Tab is one page of a session.
type Tab struct {
	ID     string
	URL    string
	Title  string
	Active bool // actions run in the active tab
}

// Tabs lists the session's pages, including the ones its pages opened (popups) once
// they are attached, which is as soon as Chromium reports them.
func (e *Engine) Tabs(ctx context.Context, id string) ([]Tab, error) {
	var tabs []Tab
	err := e.act(ctx, id, "tabs", e.cfg.ActionTimeout, func(ctx context.Context, s *session, active *tab) error {
		res, err := chromedp.CallBrowser(ctx, target.GetTargets, target.GetTargetsParams{})
		if err != nil {
			return err
		}
		infos := map[target.ID]*target.Info{}
		for _, info := range res.TargetInfos {
			infos[info.TargetID] = info
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, t := range s.tabs {
			if info := infos[t.id]; info != nil {
				tabs = append(tabs, Tab{ID: string(t.id), URL: info.URL, Title: clip(info.Title, maxTitleBytes), Active: t == active})
			}
		}
		return nil
	})
	return tabs, err
}

// OpenTab opens a blank tab and makes it active; navigate it with Navigate.
func (e *Engine) OpenTab(ctx context.Context, id string) (Tab, error) {
	var nt Tab
	err := e.act(ctx, id, "open tab", e.cfg.ActionTimeout, func(ctx context.Context, s *session, _ *tab) error {
		s.mu.Lock()
		n := len(s.tabs)
		s.mu.Unlock()
		if n >= e.cfg.MaxTabs {
			return fmt.Errorf("%w: %d tabs, the most a session may have", ErrBudget, e.cfg.MaxTabs)
		}
		t, err := e.openTab(s, "")
		if err != nil {
			return err
		}
		s.mu.Lock()
		s.tabs = append(s.tabs, t)
		s.active = len(s.tabs) - 1
		s.url = "about:blank"
		s.mu.Unlock()
		nt = Tab{ID: string(t.id), URL: "about:blank", Active: true}
		return nil
	})
	return nt, err
}

// SwitchTab makes tab tabID active.
func (e *Engine) SwitchTab(ctx context.Context, id, tabID string) error {
	return e.act(ctx, id, "switch tab", e.cfg.ActionTimeout, func(ctx context.Context, s *session, _ *tab) error {
		s.mu.Lock()
		defer s.mu.Unlock()
		for i, t := range s.tabs {
			if string(t.id) == tabID {
				s.active = i
				return nil
			}
		}
		return fmt.Errorf("%w: no tab %q in this session (a popup that just opened may still be attaching)", ErrNotFound, tabID)
	})
}

// CloseTab closes a tab; the last one cannot be closed (close the session instead).
func (e *Engine) CloseTab(ctx context.Context, id, tabID string) error {
	return e.act(ctx, id, "close tab", e.cfg.ActionTimeout, func(ctx context.Context, s *session, _ *tab) error {
		s.mu.Lock()
		for i, t := range s.tabs {
			if string(t.id) != tabID {
				continue
			}
			if len(s.tabs) == 1 {
				s.mu.Unlock()
				return fmt.Errorf("%w: the last tab; close the session instead", ErrInvalid)
			}
			s.tabs = append(s.tabs[:i], s.tabs[i+1:]...)
			if s.active >= len(s.tabs) || s.active == i {
				s.active = 0
			} else if s.active > i {
				s.active--
			}
			s.mu.Unlock()
			t.close() // outside mu: it waits on the tab, whose events take mu
			return nil
		}
		s.mu.Unlock()
		return fmt.Errorf("%w: no tab %q in this session", ErrNotFound, tabID)
	})
}
