package layer

// OCI layer whiteouts (image-spec layer.md) and their overlayfs forms
// (Documentation/filesystems/overlayfs.rst).
const (
	// WhiteoutPrefix marks a tar entry ".wh.<name>" that deletes <name>
	// from the layers below.
	WhiteoutPrefix = ".wh."
	// WhiteoutMetaPrefix marks AUFS bookkeeping entries (".wh..wh.plnk"
	// and the like), which carry no file and are skipped, as docker does.
	WhiteoutMetaPrefix = WhiteoutPrefix + WhiteoutPrefix
	// WhiteoutOpaque in a directory hides every lower child of it.
	WhiteoutOpaque = WhiteoutMetaPrefix + ".opq"

	// OverlayOpaqueXattr set to "y" on a directory of a lower or upper
	// layer makes overlayfs hide the directories below it. It is a
	// trusted.* attribute, so setting it needs CAP_SYS_ADMIN.
	OverlayOpaqueXattr = "trusted.overlay.opaque"
	// overlayXattrPrefix covers every attribute overlayfs interprets
	// (opaque, redirect, metacopy, origin...). A layer tar must never
	// smuggle one in: only whiteout entries may make a directory opaque.
	overlayXattrPrefix = "trusted.overlay."
)

// An overlayfs whiteout is a character device with device number 0/0
// under the name it hides; it needs CAP_MKNOD to create.
const (
	whiteoutMajor = 0
	whiteoutMinor = 0
)
