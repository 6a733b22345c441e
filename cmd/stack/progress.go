package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"stack/reconciler"
)

// progress renders the reconciler's events as docker compose does: on a
// terminal one line per resource, updated in place; on a pipe one plain
// line per change; as JSON one object per line; or nothing. It goes to
// stderr: stdout is for data.
type progress interface {
	Event(reconciler.Event)
	// Done draws the final state; no events may follow.
	Done()
}

// newProgress picks the renderer for --progress (auto, tty, plain, json,
// quiet) writing to w.
func newProgress(mode string, w io.Writer, title string) (progress, error) {
	switch mode {
	case "", "auto":
		if f, ok := w.(*os.File); ok && isTerminal(int(f.Fd())) {
			return newTTYProgress(w, title), nil
		}
		return &plainProgress{w: w}, nil
	case "tty":
		return newTTYProgress(w, title), nil
	case "plain":
		return &plainProgress{w: w}, nil
	case "json":
		return &jsonProgress{enc: json.NewEncoder(w)}, nil
	case "quiet":
		return quietProgress{}, nil
	}
	return nil, fmt.Errorf("invalid --progress %q: want auto, tty, plain, json or quiet", mode)
}

type quietProgress struct{}

func (quietProgress) Event(reconciler.Event) {}
func (quietProgress) Done()                  {}

// plainProgress prints `Container demo-web-1  Started` per event.
type plainProgress struct {
	mu sync.Mutex // guards w: events come from many goroutines
	w  io.Writer
}

func (p *plainProgress) Event(e reconciler.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.w, eventText(e))
}

func (p *plainProgress) Done() {}

func eventText(e reconciler.Event) string {
	s := e.Resource + "  " + e.Status
	// An error's Detail is its text (reconciler.Event): printed once.
	switch {
	case e.Detail != "":
		s += " " + e.Detail
	case e.Err != nil:
		s += " " + e.Err.Error()
	}
	return s
}

// jsonProgress prints one JSON object per event.
type jsonProgress struct {
	mu  sync.Mutex // guards enc
	enc *json.Encoder
}

func (p *jsonProgress) Event(e reconciler.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := map[string]string{"id": e.Resource, "status": e.Status, "text": e.Detail}
	if e.Err != nil {
		m["error"] = e.Err.Error()
	}
	p.enc.Encode(m)
}

func (p *jsonProgress) Done() {}

// ttyProgress keeps one line per resource and redraws them in place.
type ttyProgress struct {
	mu    sync.Mutex // guards everything below
	w     io.Writer
	title string
	lines []*ttyLine
	index map[string]*ttyLine
	drawn int // lines on screen from the last draw
}

type ttyLine struct {
	resource, status, detail string
	err                      bool
	start, end               time.Time
}

func newTTYProgress(w io.Writer, title string) *ttyProgress {
	return &ttyProgress{w: w, title: title, index: map[string]*ttyLine{}}
}

// final statuses: the resource is done (compose draws a check mark).
var finalStatus = map[string]bool{
	"Created": true, "Started": true, "Running": true, "Healthy": true, "Exited": true,
	"Stopped": true, "Removed": true, "Recreated": true, "Killed": true, "Paused": true,
	"Unpaused": true, "Restarted": true, "Pulled": true, "Built": true, "Warning": true,
}

func (p *ttyProgress) Event(e reconciler.Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	l := p.index[e.Resource]
	if l == nil {
		l = &ttyLine{resource: e.Resource, start: time.Now()}
		p.index[e.Resource] = l
		p.lines = append(p.lines, l)
	}
	l.status, l.detail, l.err = e.Status, e.Detail, e.Err != nil
	if e.Err != nil {
		l.detail = e.Err.Error()
	}
	if finalStatus[e.Status] || l.err {
		l.end = time.Now()
	} else {
		l.end = time.Time{}
	}
	p.draw()
}

func (p *ttyProgress) Done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.draw()
}

func (p *ttyProgress) draw() {
	var b strings.Builder
	if p.drawn > 0 {
		fmt.Fprintf(&b, "\033[%dA", p.drawn)
	}
	done := 0
	width := 0
	for _, l := range p.lines {
		if !l.end.IsZero() {
			done++
		}
		width = max(width, len(l.resource))
	}
	fmt.Fprintf(&b, "\033[2K[+] %s %d/%d\n", p.title, done, len(p.lines))
	for _, l := range p.lines {
		mark := "⠿"
		elapsed := time.Since(l.start)
		switch {
		case l.err:
			mark = "\033[31m✘\033[0m"
			elapsed = l.end.Sub(l.start)
		case !l.end.IsZero():
			mark = "\033[32m✔\033[0m"
			elapsed = l.end.Sub(l.start)
		}
		text := l.status
		if l.detail != "" {
			text += " " + l.detail
		}
		fmt.Fprintf(&b, "\033[2K %s %-*s  %-10s %5.1fs\n", mark, width, l.resource, text, elapsed.Seconds())
	}
	p.drawn = len(p.lines) + 1
	io.WriteString(p.w, b.String())
}
