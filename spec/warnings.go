package spec

import (
	"io"
	"slices"
	"sync"

	"github.com/sirupsen/logrus"
)

// compose-go reports its warnings (a variable that is not set, several
// compose files in one directory, an obsolete `version`, a YAML 1.1
// boolean) through logrus' standard logger, not through its API. Load turns
// them into Project.Warnings: while it runs, the standard logger writes
// nowhere and a hook collects the messages. The logger is global, so loads
// take turns (loading takes milliseconds); stack itself does not log
// through logrus, so nothing else is silenced.
var logrusMu sync.Mutex

type warningHook struct{ msgs []string }

func (h *warningHook) Levels() []logrus.Level {
	return []logrus.Level{logrus.PanicLevel, logrus.FatalLevel, logrus.ErrorLevel, logrus.WarnLevel}
}

func (h *warningHook) Fire(e *logrus.Entry) error {
	h.msgs = append(h.msgs, e.Message)
	return nil
}

// captureWarnings runs fn with compose-go's log output collected, and
// returns the messages sorted and without duplicates (compose-go may warn
// about one variable once per file, in map order).
func captureWarnings(fn func() error) ([]string, error) {
	logrusMu.Lock()
	defer logrusMu.Unlock()
	l := logrus.StandardLogger()
	h := &warningHook{}
	hooks := l.ReplaceHooks(logrus.LevelHooks{})
	out, level := l.Out, l.GetLevel()
	l.AddHook(h)
	l.SetOutput(io.Discard)
	if level < logrus.WarnLevel {
		l.SetLevel(logrus.WarnLevel)
	}
	defer func() {
		l.ReplaceHooks(hooks)
		l.SetOutput(out)
		l.SetLevel(level)
	}()
	err := fn()
	slices.Sort(h.msgs)
	return slices.Compact(h.msgs), err
}
