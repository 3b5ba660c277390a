// SPDX-License-Identifier: Apache-2.0

package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strconv"

	"github.com/custos-kms/custos/internal/storage"
)

// ConfigLog is what the proven log says of the data-access settings: the
// last value each successful SetAuditConfig gave each resource. The
// integrity scan fills it from the log ([VerifyEach]) and checks the
// stored settings against it: a setting turned off, or removed, behind
// Custos's back (so that a key's uses go unrecorded) disagrees with it.
type ConfigLog struct {
	want map[string]bool // resource -> the last value set
	seen map[string]bool // the settings Check met
}

// NewConfigLog returns an empty ConfigLog.
func NewConfigLog() *ConfigLog {
	return &ConfigLog{want: map[string]bool{}, seen: map[string]bool{}}
}

// Note records e, a proven entry, if it is a successful SetAuditConfig.
func (c *ConfigLog) Note(e *Entry) {
	if e.Method != "SetAuditConfig" || e.Status != "OK" {
		return
	}
	if on, err := strconv.ParseBool(e.Details["dataAccess"]); err == nil {
		c.want[e.Resource] = on
	}
}

// Check checks a stored record whose MAC verified: a data-access setting
// must hold the value the log gave it last. Records of other kinds pass.
// A setting changed after the log was read disagrees too: the caller
// checks those again with a log read later ([ConfigLog.Agrees]).
func (c *ConfigLog) Check(r storage.Record) error {
	if r.Kind != KindConfig {
		return nil
	}
	var d configData
	if err := json.Unmarshal(r.Data, &d); err != nil || ConfigPrefix+d.Resource != r.Name {
		return errors.New("cannot be read as a data-access setting")
	}
	c.seen[d.Resource] = true
	if want, ok := c.want[d.Resource]; ok && want != d.DataAccess {
		return fmt.Errorf("sets data access %s, but the audit log records it set %s last: the record was changed or put back behind Custos's back", onOff(d.DataAccess), onOff(want))
	}
	return nil
}

// Missing calls fn, in name order, for each setting the log records and
// Check never met: removed behind Custos's back (settings are never
// deleted), which turns its recording off.
func (c *ConfigLog) Missing(fn func(name string, err error)) {
	var names []string
	for res := range c.want {
		if !c.seen[res] {
			names = append(names, res)
		}
	}
	sort.Strings(names)
	for _, res := range names {
		fn(ConfigPrefix+res, fmt.Errorf("is missing, but the audit log records data access set %s on %s", onOff(c.want[res]), res))
	}
}

// Agrees reports whether the log c read says of the setting named name
// what r (nil: none) holds, for a second look at a disagreement.
func (c *ConfigLog) Agrees(name string, r *storage.Record) bool {
	res := name[len(ConfigPrefix):]
	want, ok := c.want[res]
	if r == nil {
		return !ok
	}
	var d configData
	if json.Unmarshal(r.Data, &d) != nil {
		return false
	}
	return !ok || want == d.DataAccess
}

func onOff(on bool) string {
	if on {
		return "on"
	}
	return "off"
}
