package cli

import "errors"

// Errors returned by commands; match with errors.Is. ExitCode maps them to
// exit codes.
var (
	// ErrNotFound means a subscription or record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists means a subscription with the id already exists.
	ErrExists = errors.New("already exists")
	// ErrNoConfirmation means a bulk write was refused because no one could
	// confirm it: stdin is not a terminal and --yes was not given.
	ErrNoConfirmation = errors.New("refusing to write without confirmation: stdin is not a terminal; pass --yes")
	// ErrAborted means the operator did not confirm.
	ErrAborted = errors.New("aborted: nothing was written")
	// ErrNoTopic means a topic hookctl needs does not exist.
	ErrNoTopic = errors.New("topic does not exist (create it with `hookctl topics init`)")
	// ErrInterrupted means a signal stopped the command (exit code 130).
	ErrInterrupted = errors.New("interrupted")
	// ErrInactive means a replay's target subscription is deleted, paused
	// or disabled; --force replays anyway.
	ErrInactive = errors.New("target subscription is not active")
	// ErrSelectionChanged means a replay name was given with another
	// selection than the one its progress belongs to.
	ErrSelectionChanged = errors.New("replay name belongs to another selection")
)
