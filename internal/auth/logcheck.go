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

// KeyLog is what the proven audit log says of credentials: when each key
// was revoked (RevokeKey, by key id) and when each app was deleted
// (DeleteApp, by app name; the last time). The integrity scan fills it
// from the log and checks every credential record against it.
type KeyLog struct {
	Revoked map[string]time.Time
	Deleted map[string]time.Time
}

// NewKeyLog returns an empty KeyLog.
func NewKeyLog() *KeyLog {
	return &KeyLog{Revoked: map[string]time.Time{}, Deleted: map[string]time.Time{}}
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
		}
	}
}

// Check checks a record whose MAC verified: a credential the log records
// as revoked must still be revoked, and one of an app deleted after the
// credential was made must be gone. Either, otherwise, was put back from a
// copy of the store older than the log's entry, and would let its holder
// in again. Records of other kinds pass.
func (l *KeyLog) Check(r storage.Record) error {
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
