package engine

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/chromedp/cdproto/browser"
	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/chromedp"
)

// Download is one file a session's page downloaded, or tried to.
type Download struct {
	GUID     string
	URL      string
	Name     string // the page's suggested name, made safe
	Path     string // in the session's download directory, once completed
	Bytes    int64
	State    string // inProgress, completed, canceled
	Error    string // why it was cancelled, when the engine did it
	Started  time.Time
	Finished time.Time
}

// Downloads lists a session's downloads, oldest first.
func (e *Engine) Downloads(id string) ([]Download, error) {
	s, err := e.lookup(id)
	if err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Download(nil), s.downloads...), nil
}

// watchDownloads follows the browser's download events for every session: it files each
// download under the session whose tab started it, cancels one that would take the
// session past MaxDownloadBytes, and names completed files after the page's suggestion.
func (e *Engine) watchDownloads(b *browserProc) {
	// The listener runs in the browser's event loop, so it only queues.
	var (
		mu    sync.Mutex
		queue []any
		wake  = make(chan struct{}, 1)
	)
	err := chromedp.ListenBrowser(b.ctx, func(ev any) {
		switch ev.(type) {
		case *browser.EventDownloadWillBegin, *browser.EventDownloadProgress:
			mu.Lock()
			queue = append(queue, ev)
			mu.Unlock()
			select {
			case wake <- struct{}{}:
			default:
			}
		}
	})
	if err != nil {
		return
	}
	owners := map[string]*session{} // guid → session
	for {
		select {
		case <-b.ctx.Done():
			return
		case <-wake:
		}
		mu.Lock()
		evs := queue
		queue = nil
		mu.Unlock()
		for _, ev := range evs {
			switch ev := ev.(type) {
			case *browser.EventDownloadWillBegin:
				s := e.sessionOfFrame(ev.FrameID)
				if s == nil {
					continue
				}
				owners[ev.GUID] = s
				s.mu.Lock()
				s.downloads = append(s.downloads, Download{
					GUID: ev.GUID, URL: clip(redactURL(ev.URL), maxLogText), Name: safeName(ev.SuggestedFilename),
					State: "inProgress", Started: time.Now(),
				})
				s.mu.Unlock()
			case *browser.EventDownloadProgress:
				s := owners[ev.GUID]
				if s == nil {
					continue
				}
				if done := e.progress(b, s, ev); done {
					delete(owners, ev.GUID)
				}
			}
		}
	}
}

// progress applies one progress event; done reports the download is over.
func (e *Engine) progress(b *browserProc, s *session, ev *browser.EventDownloadProgress) (done bool) {
	s.mu.Lock()
	var d *Download
	var others int64
	for i := range s.downloads {
		if s.downloads[i].GUID == ev.GUID {
			d = &s.downloads[i]
		} else if s.downloads[i].State != "canceled" {
			others += s.downloads[i].Bytes
		}
	}
	if d == nil {
		s.mu.Unlock()
		return true
	}
	d.Bytes = int64(max(ev.ReceivedBytes, 0))
	over := others+max(d.Bytes, int64(ev.TotalBytes)) > e.cfg.MaxDownloadBytes
	var cancel, rename bool
	switch {
	case ev.State == browser.DownloadProgressStateInProgress && over:
		d.State, d.Error, d.Finished = "canceled", fmt.Sprintf("%v: the session may download %d bytes", ErrTooLarge, e.cfg.MaxDownloadBytes), time.Now()
		cancel = true
	case ev.State == browser.DownloadProgressStateCompleted && over:
		d.State, d.Error, d.Finished = "canceled", fmt.Sprintf("%v: the session may download %d bytes", ErrTooLarge, e.cfg.MaxDownloadBytes), time.Now()
	case ev.State == browser.DownloadProgressStateCompleted:
		d.State, d.Finished = "completed", time.Now()
		rename = true
	case ev.State == browser.DownloadProgressStateCanceled:
		if d.State != "canceled" {
			d.State, d.Finished = "canceled", time.Now()
		}
	}
	guid, name, dir, ctxID := d.GUID, d.Name, s.dir, s.contextID
	state := d.State
	s.mu.Unlock()

	if cancel {
		ctx, stop := context.WithTimeout(b.ctx, 2*time.Second)
		chromedp.CallBrowser(ctx, browser.CancelDownload, browser.CancelDownloadParams{GUID: guid, BrowserContextID: ctxID})
		stop()
		os.Remove(filepath.Join(dir, guid))
		return true
	}
	if state == "canceled" {
		os.Remove(filepath.Join(dir, guid))
		return true
	}
	if rename {
		path := uniquePath(dir, name)
		if err := os.Rename(filepath.Join(dir, guid), path); err != nil {
			path = filepath.Join(dir, guid)
		}
		s.mu.Lock()
		for i := range s.downloads {
			if s.downloads[i].GUID == guid {
				s.downloads[i].Path = path
			}
		}
		s.mu.Unlock()
		return true
	}
	return false
}

// sessionOfFrame finds the session whose tab has the main frame id (a page's main frame
// id is its target id), or one of whose pages had the subframe id.
func (e *Engine) sessionOfFrame(id cdp.FrameID) *session {
	e.framesMu.Lock()
	s := e.frames[id]
	e.framesMu.Unlock()
	if s != nil {
		return s
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, s := range e.sessions {
		s.mu.Lock()
		for _, t := range s.tabs {
			if string(t.id) == string(id) {
				s.mu.Unlock()
				return s
			}
		}
		s.mu.Unlock()
	}
	return nil
}

// safeName keeps a suggested file name to one path element of ordinary characters.
func safeName(name string) string {
	name = filepath.Base(strings.ReplaceAll(name, "\\", "/"))
	name = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || r == '/' {
			return '_'
		}
		return r
	}, name)
	switch {
	case name == "" || name == "." || name == "..":
		name = "download"
	case strings.HasPrefix(name, "."):
		name = "download" + name
	}
	return clip(name, 128)
}

// uniquePath returns dir/name, or dir/name-N when that exists.
func uniquePath(dir, name string) string {
	p := filepath.Join(dir, name)
	ext := filepath.Ext(name)
	for i := 1; ; i++ {
		if _, err := os.Lstat(p); os.IsNotExist(err) {
			return p
		}
		p = filepath.Join(dir, fmt.Sprintf("%s-%d%s", strings.TrimSuffix(name, ext), i, ext))
	}
}
