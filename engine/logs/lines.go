package logs

import (
	"bytes"
	"io"
	"os"
)

// maxLine bounds a line the readers will buffer. Our entries stay far below
// it (16 KiB of text, at most six bytes of JSON per byte); anything longer is
// garbage and is skipped without growing memory.
const maxLine = 1 << 20

// lineReader hands out the newline-terminated lines of a file from a given
// offset. It reads with pread, so it shares no file offset with anyone, and
// it can be called again after EOF to pick up what was appended since.
type lineReader struct {
	f     *os.File
	off   int64 // file offset of buf[w]
	limit int64 // bytes at or after limit are not read; -1 = none
	buf   []byte
	r, w  int  // buf[r:w] holds read but unreturned bytes
	skip  bool // discarding an over-long line up to its newline
}

func newLineReader(f *os.File, off int64) *lineReader {
	return &lineReader{f: f, off: off, limit: -1, buf: make([]byte, 64<<10)}
}

// next returns the next complete line without its newline, or ok=false when
// the file holds no further complete line. The line is valid until the next
// call.
func (lr *lineReader) next() (line []byte, ok bool, err error) {
	for {
		if i := bytes.IndexByte(lr.buf[lr.r:lr.w], '\n'); i >= 0 {
			line := lr.buf[lr.r : lr.r+i]
			lr.r += i + 1
			if lr.skip {
				lr.skip = false
				continue
			}
			return line, true, nil
		}
		if lr.r > 0 {
			lr.w = copy(lr.buf, lr.buf[lr.r:lr.w])
			lr.r = 0
		}
		if lr.w == len(lr.buf) {
			if len(lr.buf) < maxLine {
				lr.buf = append(lr.buf, make([]byte, len(lr.buf))...)
			} else {
				lr.w, lr.skip = 0, true
			}
		}
		p := lr.buf[lr.w:]
		if lr.limit >= 0 {
			// Bytes past the limit are not ours to see, not even
			// to finish the line that the limit cuts: a write can
			// become visible in parts (Linux updates the size as
			// each page is copied), so the size the limit was
			// taken from may end inside an entry that was being
			// written, and the entries after the limit were
			// written later than the snapshot.
			p = p[:min(int64(len(p)), max(lr.limit-lr.off, 0))]
			if len(p) == 0 {
				return nil, false, nil
			}
		}
		n, err := lr.f.ReadAt(p, lr.off)
		lr.w += n
		lr.off += int64(n)
		if err != nil && err != io.EOF {
			return nil, false, err
		}
		if n == 0 {
			return nil, false, nil
		}
	}
}

// rest returns and consumes the bytes after the last newline (before the
// limit, if there is one): a line that is still being written, or one that
// never will be finished.
func (lr *lineReader) rest() []byte {
	b := lr.buf[lr.r:lr.w]
	lr.r, lr.w = 0, 0
	if lr.skip {
		lr.skip = false
		return nil
	}
	return b
}

// scanBack finds where to start reading f[0:size) so as to see the last want
// lines accepted by match, reading backwards in chunks. It returns that
// offset and how many lines it found; if found < want, the whole file is
// needed and the offset is 0. With want == 0 it returns the offset just past
// the last newline, so an entry being written at the end is not cut.
func scanBack(f *os.File, size int64, want int, match func([]byte) bool) (int64, int, error) {
	const chunk = 64 << 10
	var (
		carry []byte // the start of the line cut by the previous chunk
		found int
		skip  bool // carry outgrew maxLine and was dropped
		pos   = size
	)
	for pos > 0 {
		n := int64(chunk)
		if n > pos {
			n = pos
		}
		pos -= n
		data := make([]byte, int(n), int(n)+len(carry))
		if _, err := f.ReadAt(data, pos); err != nil && err != io.EOF {
			return 0, 0, err
		}
		data = append(data, carry...)
		j := len(data) // end of the line being examined
		for {
			i := bytes.LastIndexByte(data[:j], '\n')
			if i < 0 && pos > 0 {
				carry = data[:j]
				if len(carry) > maxLine {
					carry, skip = nil, true
				}
				break
			}
			start := i + 1 // also right when i == -1 and pos == 0
			if want == 0 {
				return pos + int64(start), 0, nil
			}
			line := data[start:j]
			if skip {
				skip = false
			} else if len(line) > 0 && match(line) {
				found++
				if found == want {
					return pos + int64(start), found, nil
				}
			}
			if i < 0 {
				break
			}
			j = i
		}
	}
	return 0, found, nil
}
