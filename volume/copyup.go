package volume

import (
	"os"

	"stack/volume/copyup"
)

// CopyUp copies the directory tree at srcDir (an open descriptor of a
// directory in a container's root filesystem) into dst, a volume's empty
// _data, and reports whether it copied; a dst that is not empty is left
// alone. It is copyup.CopyUp, which documents what is kept; the copy
// itself lives in that leaf package so that the container init can run it.
func CopyUp(srcDir *os.File, dst string) (bool, error) { return copyup.CopyUp(srcDir, dst) }
