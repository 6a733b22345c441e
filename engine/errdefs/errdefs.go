// Package errdefs holds the sentinel errors shared by the engine packages, so
// callers in any layer can test them with errors.Is without importing the
// package that produced them. Errors are wrapped with context where they
// happen; these values only classify them.
package errdefs

import "errors"

var (
	// ErrNotFound: the named object (image, container, layer) does not exist.
	ErrNotFound = errors.New("not found")
	// ErrExists: an object with that name or ID already exists.
	ErrExists = errors.New("already exists")
	// ErrInUse: the object is used by another and cannot be removed.
	ErrInUse = errors.New("in use")
	// ErrNotRunning: the operation needs a running container.
	ErrNotRunning = errors.New("not running")
	// ErrInvalid: the caller's input is malformed.
	ErrInvalid = errors.New("invalid argument")
)
