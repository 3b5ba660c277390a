// SPDX-License-Identifier: Apache-2.0

package kms

// Transition is a change of a version's state that a caller can ask for.
type Transition int

const (
	TransEnable Transition = iota + 1
	TransDisable
	TransScheduleDestroy
	TransRestore
	// TransDestroyNow is taken by the scheduler when destroy_time passes.
	TransDestroyNow
)

// next returns the state a version moves to, and false when the transition is
// refused in state s. It is the whole lifecycle state machine of Cloud KMS:
//
//	ENABLED <-> DISABLED
//	ENABLED | DISABLED -> DESTROY_SCHEDULED -> DESTROYED
//	DESTROY_SCHEDULED -> DISABLED (restore)
//
// Enabling an enabled version (and disabling a disabled one) is allowed and
// changes nothing, as in Cloud KMS.
func next(s State, t Transition) (State, bool) {
	switch t {
	case TransEnable:
		if s == Enabled || s == Disabled {
			return Enabled, true
		}
	case TransDisable:
		if s == Enabled || s == Disabled {
			return Disabled, true
		}
	case TransScheduleDestroy:
		if s == Enabled || s == Disabled {
			return DestroyScheduled, true
		}
	case TransRestore:
		if s == DestroyScheduled {
			return Disabled, true
		}
	case TransDestroyNow:
		if s == DestroyScheduled {
			return Destroyed, true
		}
	}
	return s, false
}
