// Package layer applies OCI image layers to directories, safely (no entry
// escapes the layer root) and translating OCI whiteouts into overlayfs
// ones, so the directories stack as overlay lower layers.
package layer
