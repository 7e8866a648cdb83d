package proxy

import (
	"crypto/tls"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// ticketKeys keeps the session ticket keys of the TLS configuration equal
// to those in a file, so that they can be rotated without a restart: write
// the new key first with the previous one below it (tickets it sealed still
// resume), on both proxies, and drop the old one once its tickets are no
// longer wanted. tls.Config.SetSessionTicketKeys is safe while the
// configuration is in use.
type ticketKeys struct {
	path     string
	tls      *tls.Config
	log      *slog.Logger
	watch    *fileWatch
	mu       sync.Mutex // serialises reloads
	reloads  atomic.Uint64
	failures atomic.Uint64
}

// newTicketKeys reads path and installs its keys in cfg.
func newTicketKeys(path string, cfg *tls.Config, log *slog.Logger) (*ticketKeys, error) {
	tk := &ticketKeys{path: path, tls: cfg, log: log, watch: newFileWatch(path)}
	keys, err := ReadSessionTicketKeys(path)
	if err != nil {
		return nil, err
	}
	cfg.SetSessionTicketKeys(keys)
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o077 != 0 {
		// Whoever reads the keys can decrypt resumed sessions' traffic.
		log.Warn("session ticket key file is readable by other users; chmod 600 it",
			"path", path, "mode", fmt.Sprintf("%04o", fi.Mode().Perm()))
	}
	return tk, nil
}

// reload reads the file again; on failure the previous keys stay.
func (tk *ticketKeys) reload(why string) error {
	tk.mu.Lock()
	defer tk.mu.Unlock()
	keys, err := ReadSessionTicketKeys(tk.path)
	if err != nil {
		tk.failures.Add(1)
		tk.log.Error("session ticket key reload failed, still using the previous keys", "trigger", why, "err", err)
		return err
	}
	tk.tls.SetSessionTicketKeys(keys)
	tk.reloads.Add(1)
	tk.log.Info("session ticket keys reloaded", "trigger", why, "keys", len(keys))
	return nil
}
