package cmdutil

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
)

// WarningLogger is the logger of a program's ordinary run: the library's
// warnings as "prog: warning: message (key=value, …)" lines on w, the way the
// program's own errors and hints read; nothing below warning level. (--debug
// uses NewLogger's records instead.)
func WarningLogger(w io.Writer, prog string) *slog.Logger {
	return slog.New(&warningHandler{w: w, prog: prog, mu: &sync.Mutex{}})
}

type warningHandler struct {
	w     io.Writer
	prog  string
	attrs []slog.Attr
	mu    *sync.Mutex
}

func (h *warningHandler) Enabled(_ context.Context, l slog.Level) bool { return l >= slog.LevelWarn }

func (h *warningHandler) Handle(_ context.Context, r slog.Record) error {
	var kv []string
	add := func(a slog.Attr) bool {
		if !a.Equal(slog.Attr{}) {
			kv = append(kv, a.Key+"="+a.Value.String())
		}
		return true
	}
	for _, a := range h.attrs {
		add(a)
	}
	r.Attrs(add)
	line := h.prog + ": warning: " + r.Message
	if len(kv) > 0 {
		line += " (" + strings.Join(kv, ", ") + ")"
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	_, err := fmt.Fprintln(h.w, line)
	return err
}

func (h *warningHandler) WithAttrs(as []slog.Attr) slog.Handler {
	c := *h
	c.attrs = append(append([]slog.Attr(nil), h.attrs...), as...)
	return &c
}

// WithGroup keeps the attributes flat: a warning line has no room for groups.
func (h *warningHandler) WithGroup(string) slog.Handler { return h }
