// SPDX-License-Identifier: Apache-2.0

package kms

import "testing"

// TestLifecycle checks every (state, transition) pair against the Cloud KMS
// lifecycle, so that no transition is allowed by accident.
func TestLifecycle(t *testing.T) {
	states := []State{PendingGeneration, Enabled, Disabled, DestroyScheduled, Destroyed, PendingImport, ImportFailed}
	transitions := map[Transition]string{
		TransEnable: "enable", TransDisable: "disable", TransScheduleDestroy: "destroy",
		TransRestore: "restore", TransDestroyNow: "destroy now",
	}
	allowed := map[State]map[Transition]State{
		Enabled:          {TransEnable: Enabled, TransDisable: Disabled, TransScheduleDestroy: DestroyScheduled},
		Disabled:         {TransEnable: Enabled, TransDisable: Disabled, TransScheduleDestroy: DestroyScheduled},
		DestroyScheduled: {TransRestore: Disabled, TransDestroyNow: Destroyed},
	}
	n := 0
	for _, s := range states {
		for tr, trName := range transitions {
			n++
			want, ok := allowed[s][tr]
			got, gotOK := next(s, tr)
			if gotOK != ok {
				t.Errorf("%s from %s: allowed = %v, want %v", trName, s, gotOK, ok)
				continue
			}
			if ok && got != want {
				t.Errorf("%s from %s = %s, want %s", trName, s, got, want)
			}
			if !ok && got != s {
				t.Errorf("refused %s from %s changed the state to %s", trName, s, got)
			}
		}
	}
	if n != 35 {
		t.Fatalf("checked %d pairs, want 35", n)
	}
}
