// SPDX-License-Identifier: Apache-2.0

package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/custos-kms/custos/internal/storage"
)

// KeyLog is what the proven audit log says of apps and their credentials:
// when each key was revoked (RevokeKey, by key id), when each app was
// deleted (DeleteApp, by app name; the last time), and whether each app
// was disabled or enabled last (DisableApp, EnableApp, CreateApp). The
// integrity scan fills it from the log and checks every app and
// credential record against it.
type KeyLog struct {
	Revoked  map[string]time.Time
	Deleted  map[string]time.Time
	Disabled map[string]bool     // app -> disabled by its last change
	Gone     map[string]struct{} // UIDs of deleted apps
	// noUID holds the deletions whose entries name no UID (written
	// before entries carried it): those apps are told by their times.
	noUID map[string]time.Time
}

// NewKeyLog returns an empty KeyLog.
func NewKeyLog() *KeyLog {
	return &KeyLog{Revoked: map[string]time.Time{}, Deleted: map[string]time.Time{}, Disabled: map[string]bool{}, Gone: map[string]struct{}{}, noUID: map[string]time.Time{}}
}

// Note records an audit entry of a successful call, if it is one KeyLog
// follows.
func (l *KeyLog) Note(method string, details map[string]string, at time.Time) {
	switch method {
	case "RevokeKey":
		if id := details["keyId"]; id != "" {
			l.Revoked[id] = at
		}
	case "DeleteApp":
		if app := details["app"]; app != "" {
			l.Deleted[app] = at
			delete(l.Disabled, app)
			if uid := details["uid"]; uid != "" {
				l.Gone[uid] = struct{}{}
				delete(l.noUID, app)
			} else {
				l.noUID[app] = at
			}
		}
	case "DisableApp", "EnableApp":
		if app := details["app"]; app != "" {
			l.Disabled[app] = method == "DisableApp"
		}
	case "CreateApp":
		if app := details["app"]; app != "" {
			l.Disabled[app] = false
		}
	}
}

// Check checks a record whose MAC verified: a credential the log records
// as revoked must still be revoked, and one of an app deleted after the
// credential was made must be gone. Either, otherwise, was put back from a
// copy of the store older than the log's entry, and would let its holder
// in again. Records of other kinds pass.
func (l *KeyLog) Check(r storage.Record) error {
	if r.Kind == kindApp {
		return l.checkApp(r)
	}
	if r.Kind != kindAppKey {
		return nil
	}
	var k AppKey
	if err := json.Unmarshal(r.Data, &k); err != nil {
		return errors.New("cannot be read as a credential")
	}
	id := strings.TrimPrefix(r.Name, keyRecordName(""))
	if at, ok := l.Revoked[id]; ok && !k.Revoked {
		return fmt.Errorf("is a live credential, but the audit log records its revocation at %s: the record was put back from a copy older than that", at.UTC().Format(time.RFC3339))
	}
	if at, ok := l.Deleted[k.App]; ok && !k.CreateTime.After(at) {
		return fmt.Errorf("is a credential of app %s made before the audit log records the app's deletion at %s: the record was put back from a copy older than that", k.App, at.UTC().Format(time.RFC3339))
	}
	return nil
}

// checkApp checks an app record: an app the log records as deleted after
// it was made must be gone, and one it records as disabled last must still
// be. An app enabled or disabled while the log was being read disagrees
// too: the scan checks those again with a log read later.
func (l *KeyLog) checkApp(r storage.Record) error {
	var a App
	if err := json.Unmarshal(r.Data, &a); err != nil || appRecordName(a.Name) != r.Name {
		return errors.New("cannot be read as an app")
	}
	// The UID names the app exactly; entries written before the log
	// carried it fall back on the times.
	if _, gone := l.Gone[a.UID]; gone {
		return fmt.Errorf("is an app the audit log records as deleted (uid %s): the record was put back from an older copy", a.UID)
	}
	if at, ok := l.noUID[a.Name]; ok && !a.CreateTime.After(at) {
		return fmt.Errorf("is an app made before the audit log records its deletion at %s: the record was put back from a copy older than that", at.UTC().Format(time.RFC3339))
	}
	if disabled, ok := l.Disabled[a.Name]; ok && disabled && !a.Disabled {
		return errors.New("is enabled, but the audit log records it disabled last: the record was put back from an older copy")
	}
	return nil
}

// KindApp is the storage kind of app records: their state may change while
// the log is read (an app enabled meanwhile), so the scan checks a
// disagreement again with a log read later.
const KindApp = kindApp
