// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/custos-kms/custos/internal/kms"
	"github.com/custos-kms/custos/internal/kmserr"
	"github.com/custos-kms/custos/internal/resource"
	"github.com/custos-kms/custos/internal/storage"
)

// configTTL is how long the in-memory copy of the data-access settings is
// used before it is read again. SetDataAccess updates the copy of its own
// node at once; other nodes sharing the store follow within configTTL.
const configTTL = 30 * time.Second

// configPage is the page size used to load the settings.
const configPage = 1000

// config is the in-memory copy of every data-access setting: resource
// name → on. It is read on every data-access call and never touches
// storage on that path, except for the one call that refreshes it.
type config struct {
	mu         sync.RWMutex
	m          map[string]bool
	loadedAt   time.Time
	gen        uint64 // counts set calls, so that a load that raced one is dropped
	refreshing atomic.Bool
}

// configData is the Data of a setting record.
type configData struct {
	Resource   string `json:"resource"`
	DataAccess bool   `json:"dataAccess"`
}

// load reads every setting from the store. A setting that fails its MAC or
// does not decode counts as on: an altered setting can make the log record
// more, never less.
func (c *config) load(ctx context.Context, r storage.Reader, signer Signer, log *slog.Logger) error {
	c.mu.RLock()
	gen := c.gen
	c.mu.RUnlock()
	m := make(map[string]bool)
	after := ""
	for {
		recs, err := r.List(ctx, storage.ListOptions{Kind: KindConfig, Parent: ConfigParent, After: after, Limit: configPage})
		if err != nil {
			return err
		}
		for _, rec := range recs {
			name := strings.TrimPrefix(rec.Name, ConfigPrefix)
			on, err := decodeConfig(rec, signer)
			if err != nil {
				log.Error("audit: data-access setting altered; recording data access for it", "resource", name, "err", err)
				on = true
			}
			m[name] = on
		}
		if len(recs) < configPage {
			break
		}
		after = recs[len(recs)-1].Name
	}
	c.mu.Lock()
	if c.gen == gen {
		c.m, c.loadedAt = m, time.Now()
	} // else a setting changed while loading, which m may miss: keep c.m and reload on the next call
	c.mu.Unlock()
	return nil
}

// decodeConfig authenticates and decodes a setting record.
func decodeConfig(rec storage.Record, signer Signer) (bool, error) {
	if err := signer.Verify(rec); err != nil {
		return false, err
	}
	var d configData
	if err := json.Unmarshal(rec.Data, &d); err != nil {
		return false, errDecode
	}
	if ConfigPrefix+d.Resource != rec.Name {
		return false, errDecode
	}
	return d.DataAccess, nil
}

// effective reports whether data access on res is recorded, from the
// in-memory settings, refreshing them first if they are older than
// configTTL (one caller refreshes; the others use the copy they have).
// A name that does not parse is recorded.
func (c *config) effective(ctx context.Context, l *Log, res string) bool {
	c.mu.RLock()
	stale := time.Since(c.loadedAt) > configTTL
	c.mu.RUnlock()
	if stale && c.refreshing.CompareAndSwap(false, true) {
		if err := c.load(ctx, l.store, l.signer, l.log); err != nil {
			l.log.Error("audit: cannot reload the data-access settings; using the previous ones", "err", err)
		}
		c.refreshing.Store(false)
	}
	n, err := resource.Parse(res)
	if err != nil {
		return true
	}
	c.mu.RLock()
	defer c.mu.RUnlock()
	for _, a := range n.Ancestors() {
		if on, ok := c.m[a.String()]; ok {
			return on
		}
	}
	return false
}

// set records a setting of this node in the in-memory copy.
func (c *config) set(name string, on bool) {
	c.mu.Lock()
	m := maps.Clone(c.m)
	if m == nil {
		m = make(map[string]bool)
	}
	m[name] = on
	c.m = m
	c.gen++
	c.mu.Unlock()
}

// configName parses and checks the resource of a setting: a project,
// location, key ring or crypto key.
func configName(res string) (resource.Name, error) {
	n, err := resource.Parse(res)
	if err != nil {
		return resource.Name{}, kmserr.InvalidArgument("resource", "%q is not a valid resource name", res)
	}
	switch n.Kind {
	case resource.KindProject, resource.KindLocation, resource.KindKeyRing, resource.KindCryptoKey:
		return n, nil
	}
	return resource.Name{}, kmserr.InvalidArgument("resource", "data-access logging is set on a project, location, key ring or crypto key, not on a %s", n.Kind)
}

// SetDataAccess turns data-access recording on or off for a project,
// location, key ring or crypto key and, unless set otherwise below, for
// everything under it. The change is itself recorded as admin activity
// (method "SetAuditConfig"), whatever its outcome. Errors: INVALID_ARGUMENT
// for another name; UNAVAILABLE if the setting or its record could not be
// written. Other nodes sharing the store follow within 30 seconds.
func (l *Log) SetDataAccess(ctx context.Context, res string, on bool) error {
	n, err := configName(res)
	if err != nil {
		return err
	}
	name := n.String()
	data, err := json.Marshal(configData{Resource: name, DataAccess: on})
	if err != nil {
		return kmserr.Internal(err, "internal error")
	}
	rec := storage.Record{Kind: KindConfig, Name: ConfigPrefix + name, Parent: ConfigParent, Data: data}
	l.signer.Sign(&rec)
	err = l.store.Update(ctx, func(tx storage.Tx) error { return tx.Put(ctx, rec) })
	if err != nil {
		err = kmserr.Unavailable(err, "the audit configuration could not be written")
	} else {
		l.cfg.set(name, on)
	}
	ev := kms.Event{Method: "SetAuditConfig", Resource: name, Err: err, Details: map[string]string{"dataAccess": strconv.FormatBool(on)}}
	if rerr := l.Record(ctx, ev); rerr != nil && err == nil {
		return rerr
	}
	return err
}

// DataAccess reports whether data access on res (a project, location, key
// ring or crypto key) is recorded: the setting of res or of its nearest
// ancestor that has one, off if none has. It reads the settings from the
// store, not the in-memory copy. Errors: INVALID_ARGUMENT for another name,
// DATA_LOSS for a setting that fails its integrity check, UNAVAILABLE if the
// store cannot be read.
func (l *Log) DataAccess(ctx context.Context, res string) (bool, error) {
	n, err := configName(res)
	if err != nil {
		return false, err
	}
	for _, a := range n.Ancestors() {
		rec, err := l.store.Get(ctx, ConfigPrefix+a.String())
		if errors.Is(err, storage.ErrNotFound) {
			continue
		}
		if err != nil {
			return false, kmserr.Unavailable(err, "the audit configuration could not be read")
		}
		on, err := decodeConfig(rec, l.signer)
		if err != nil {
			return false, kmserr.DataLoss(err, "the audit configuration of %s failed its integrity check", a.String())
		}
		return on, nil
	}
	return false, nil
}
