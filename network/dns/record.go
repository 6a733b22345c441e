package dns

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
)

// Record is one container endpoint on one network, as the DNS server sees
// it. It is stored as <dir>/<ContainerID>.json, dir being the network's
// record directory.
type Record struct {
	// ContainerID names the file. It must be a plain file name that does
	// not start with a dot.
	ContainerID string `json:"id"`
	// Names are matched case-insensitively, a final dot ignored. The first
	// is the container name, which PTR queries answer; then the service
	// name, aliases, hostname and short ID, in any order.
	Names []string   `json:"names"`
	IPv4  netip.Addr `json:"ipv4,omitzero"`
	IPv6  netip.Addr `json:"ipv6,omitzero"`
}

// recordExt ends the name of every record file. Other files in a record
// directory, and files whose name starts with a dot (WriteRecord's
// temporary files), are ignored.
const recordExt = ".json"

func isRecordFile(name string) bool {
	return strings.HasSuffix(name, recordExt) && !strings.HasPrefix(name, ".")
}

func checkID(id string) error {
	if id == "" || strings.HasPrefix(id, ".") || strings.ContainsAny(id, `/\`) {
		return fmt.Errorf("invalid container ID %q: want a file name not starting with a dot", id)
	}
	return nil
}

// WriteRecord writes r as dir/<r.ContainerID>.json, replacing any record of
// the same container. It creates dir (mode 0o755) if needed. The file
// appears whole or not at all: it is written under a temporary name and
// renamed.
//
// The file is not fsynced: a record describes a running container, which
// does not outlive a host crash, and an fsync would add milliseconds to
// every container start.
func WriteRecord(dir string, r Record) error {
	if err := checkID(r.ContainerID); err != nil {
		return fmt.Errorf("write dns record: %w", err)
	}
	data, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("write dns record %s: %w", r.ContainerID, err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write dns record %s: %w", r.ContainerID, err)
	}
	f, err := os.CreateTemp(dir, ".tmp-"+r.ContainerID+"-*")
	if err != nil {
		return fmt.Errorf("write dns record %s: %w", r.ContainerID, err)
	}
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), filepath.Join(dir, r.ContainerID+recordExt))
	}
	if err != nil {
		return errors.Join(fmt.Errorf("write dns record %s: %w", r.ContainerID, err), os.Remove(f.Name()))
	}
	return nil
}

// RemoveRecord removes the record of containerID from dir. It is
// idempotent: a missing record or directory is not an error.
func RemoveRecord(dir, containerID string) error {
	if err := checkID(containerID); err != nil {
		return fmt.Errorf("remove dns record: %w", err)
	}
	err := os.Remove(filepath.Join(dir, containerID+recordExt))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove dns record %s: %w", containerID, err)
	}
	return nil
}

// readRecords reads the records of dir, in file name order. A missing
// directory has no records. A file that cannot be read or parsed is left
// out and reported in errs; the others are still returned.
func readRecords(dir string) (recs []Record, errs []error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, nil
		}
		return nil, []error{err}
	}
	for _, e := range entries {
		if !isRecordFile(e.Name()) || e.IsDir() {
			continue
		}
		path := filepath.Join(dir, e.Name())
		data, err := os.ReadFile(path)
		if errors.Is(err, fs.ErrNotExist) {
			continue // removed since ReadDir
		}
		if err != nil {
			errs = append(errs, err)
			continue
		}
		var r Record
		if err := json.Unmarshal(data, &r); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", path, err))
			continue
		}
		if r.ContainerID == "" {
			r.ContainerID = strings.TrimSuffix(e.Name(), recordExt)
		}
		recs = append(recs, r)
	}
	return recs, errs
}
