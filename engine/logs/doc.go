// Package logs owns container log files: writing them in Docker's json-file
// format with size-based rotation, and reading them back with tail, since,
// until and follow.
//
// # Format
//
// A log is a file of JSON objects, one per line, byte-for-byte as Docker's
// json-file driver writes them (moby daemon/logger/jsonfilelog):
//
//	{"log":"hello\n","stream":"stdout","time":"2024-05-01T10:00:00.123456789Z"}
//
// The time is RFC 3339 with nanoseconds, in UTC, trailing zeros trimmed. The
// text is escaped as moby's jsonlog does it, which differs from
// encoding/json: only \n, \r, \" and \\ get short escapes, every other
// control byte is \u00XX, <, > and & are \u003c, \u003e and \u0026, and
// each invalid UTF-8 byte becomes \ufffd. Lines longer than 16 KiB are split
// into several entries; all but the last have no trailing newline, as Docker
// writes them. A last line that ends without a newline when the stream closes
// is written as it is. `docker logs` tooling (and jq) can therefore read our
// files, and we can read Docker's.
//
// # Rotation
//
// With Options.MaxSize > 0, a Writer renames the file to path.1 (path.1 to
// path.2, and so on, dropping the oldest beyond Options.MaxFiles) before an
// entry would push it past MaxSize, and starts a new file; with MaxFiles 1 a
// new empty file is renamed over the old one. An entry is never split across
// files, so a file exceeds MaxSize only when a single entry is larger than
// MaxSize. ParseOptions reads Docker's max-size and max-file
// options; unlike Docker, whose json-file default is to never rotate, its
// defaults are 10 MiB and 5 files, so a chatty container cannot fill the
// disk.
//
// # Reading
//
// Read walks the rotated files oldest first and then the current one. Tail
// reads backwards from the end, so the last lines of a large log cost what
// the lines cost, not the file (Since alone still reads from the start).
// Without Follow, Read returns the log as it was at one moment, even while
// the writer appends and rotates; it finds the files one proven neighbour
// at a time, so a writer that rotates often cannot make it give up or
// return them out of order. With Follow, Read keeps going: it
// watches the directory with inotify (no polling), and when the file is
// rotated it finishes the old file by its open descriptor and moves to its
// successor, found by inode, so no entry is lost or repeated as long as the
// reader is at most MaxFiles-1 rotations behind. It stops when the context
// ends, when ReadOptions.FollowUntil reports true and everything written has
// been read, or when the directory is removed.
//
// Writers and readers coordinate only through the file system: a reader may
// be another process (the CLI) than the writer (the shim). Each entry reaches
// the file in one write(2), and readers only hand out complete lines (a
// write in progress may be visible in part, page by page), so a reader
// never sees half an entry. A line that does not parse (torn by a
// crash, or garbage) is skipped.
//
// # What it does not do
//
// It does not compress rotated files (Docker's compress option), add labels,
// env or tag attributes, or drop entries when the disk is slow: Writer.Stream
// blocks while a write is in progress, which back-pressures the container
// through its pipe, as Docker's blocking mode does. Readers far behind a busy
// writer lose the files rotated away under them; inotify does not work on
// network file systems.
package logs
