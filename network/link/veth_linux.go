package link

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Endpoint is one container's attachment to one bridge.
type Endpoint struct {
	// HostName is the host end's name, 1 to 15 bytes, unique on the
	// host; the caller derives it (e.g. "veth" + ids).
	HostName string
	// IfName is the name inside the container: "eth0", "eth1", ...
	IfName string
	// Bridge is the name of an existing bridge.
	Bridge string
	// MTU of both ends; 0 takes the bridge's current MTU, which follows
	// its ports' (see Bridge.MTU), so pass the network's MTU.
	MTU int
	// Addr is the container's IPv4 address with the subnet's length.
	Addr netip.Prefix
	// Gateway, when valid, becomes the container's default route; it
	// must lie in Addr's subnet. Leave it zero for internal networks and
	// for all networks but the container's first.
	Gateway netip.Addr
	// MAC of the container's end; nil lets the kernel pick one.
	MAC net.HardwareAddr
	// Hairpin lets frames leave the host end through the port they came
	// in by, which a container needs to reach its own published port
	// through the host's address (DNAT sends the packet back where it
	// came from). It also reflects the container's own multicast back to
	// it, which can make IPv6 duplicate address detection on its end fail.
	Hairpin bool
}

func (ep Endpoint) validate() error {
	if err := validName("host veth", ep.HostName); err != nil {
		return err
	}
	if err := validName("container interface", ep.IfName); err != nil {
		return err
	}
	if err := validName("bridge", ep.Bridge); err != nil {
		return err
	}
	if ep.MTU != 0 && (ep.MTU < 68 || ep.MTU > 65535) {
		return fmt.Errorf("MTU %d out of range 68-65535", ep.MTU)
	}
	if !ep.Addr.IsValid() || !ep.Addr.Addr().Is4() {
		return fmt.Errorf("address %v: want an IPv4 address with prefix length", ep.Addr)
	}
	if ep.Gateway.IsValid() && (!ep.Gateway.Is4() || !ep.Addr.Masked().Contains(ep.Gateway) || ep.Gateway == ep.Addr.Addr()) {
		return fmt.Errorf("gateway %v: want another address in %v", ep.Gateway, ep.Addr.Masked())
	}
	if ep.MAC != nil && (len(ep.MAC) != 6 || ep.MAC[0]&1 != 0) {
		return fmt.Errorf("MAC %v: want a 6-byte unicast address", ep.MAC)
	}
	return nil
}

// Attach connects the network namespace nsFD to a bridge of the calling
// thread's namespace. It creates a veth pair whose host end is a port of
// ep.Bridge and whose other end is created directly inside nsFD, named
// ep.IfName, with ep.MAC and ep.MTU, so that the pair never shows up in
// the host under a temporary name. Inside, it brings lo and ep.IfName up,
// adds ep.Addr and, if ep.Gateway is set, the default route through it.
//
// It is all or nothing: on failure it removes the pair it made. It fails
// without touching anything if ep.HostName exists on the host or
// ep.IfName in the container (errors.Is(err, fs.ErrExist)), or if the
// bridge is missing (ErrNotFound). A default route the container already
// has is an error, not replaced.
//
// The container's namespace is reached through a netlink socket opened in
// it by Do; the calling thread never changes namespace.
func Attach(nsFD int, ep Endpoint) (err error) {
	if err := ep.validate(); err != nil {
		return fmt.Errorf("attach %q: %w", ep.HostName, err)
	}
	wrap := func(step string, err error) error {
		return fmt.Errorf("attach %s to bridge %q as %s: %s: %w", ep.HostName, ep.Bridge, ep.IfName, step, err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return wrap("netlink socket", err)
	}
	defer h.Close()
	br, err := lookup(h, ep.Bridge)
	if err != nil {
		return wrap("bridge", err)
	}
	if br == nil {
		return wrap("bridge", ErrNotFound)
	}
	if br.Type() != "bridge" {
		return wrap("bridge", fmt.Errorf("link is a %s, not a bridge", br.Type()))
	}
	mtu := ep.MTU
	if mtu == 0 {
		mtu = br.Attrs().MTU
	}
	hostIndex, peerIndex, err := addVeth(ep, br.Attrs().Index, mtu, nsFD)
	if errors.Is(err, unix.EEXIST) {
		// Say which end's name is taken: the kernel does not.
		if l, _ := lookup(h, ep.HostName); l != nil {
			return wrap("create veth", fmt.Errorf("%s exists on the host: %w", ep.HostName, err))
		}
		return wrap("create veth", fmt.Errorf("%s exists in the container: %w", ep.IfName, err))
	}
	if err != nil {
		return wrap("create veth", err)
	}
	defer func() {
		if err != nil {
			if derr := delLinkByName(ep.HostName); derr != nil && !errors.Is(derr, unix.ENODEV) {
				err = errors.Join(err, fmt.Errorf("remove %s after failure: %w", ep.HostName, derr))
			}
		}
	}()
	if ep.Hairpin {
		host := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: hostIndex, Name: ep.HostName}}
		if err := h.LinkSetHairpin(host, true); err != nil {
			return wrap("hairpin", err)
		}
	}
	if err := configureInside(nsFD, peerIndex, ep); err != nil {
		return wrap("in container", err)
	}
	if hostIndex == 0 {
		l, err := h.LinkByName(ep.HostName)
		if err != nil {
			return wrap("look up host end", err)
		}
		hostIndex = l.Attrs().Index
	}
	// The host end, then the bridge, before anyone sends through them.
	settle(h, hostIndex)
	settle(h, br.Attrs().Index)
	return nil
}

// settle waits, briefly, until the kernel has finished bringing the link
// index up. A device whose carrier comes on while it is already up (the
// host end, when the container's end goes up; the bridge, when its first
// port starts forwarding) drops what it is given to send until the
// linkwatch worker runs for it and activates its queue, and that worker
// runs asynchronously. A packet sent before then is lost: an ARP reply,
// and the first connection of a container that starts at once stalls
// for the 1 s ARP or SYN retransmit (measured here: 1 connection in 4).
// RTM_GETLINK runs the pending linkwatch work for the device itself
// (linkwatch_sync_dev in rtnl_getlink, Linux 6.x), so on this kernel one
// request settles it; older kernels are polled for operstate up.
func settle(h *netlink.Handle, index int) {
	deadline := time.Now().Add(100 * time.Millisecond)
	for {
		l, err := h.LinkByIndex(index)
		if err != nil || l.Attrs().OperState == netlink.OperUp || time.Now().After(deadline) {
			return
		}
		time.Sleep(time.Millisecond)
	}
}

// addVeth creates the pair in one RTM_NEWLINK: host end named, sized,
// enslaved to the bridge and up; peer named, sized, addressed and in the
// container's namespace from the start (IFLA_NET_NS_FD, as netavark's
// create_veth_pair). netlink.LinkAdd would set the master in a second
// request after looking the link up, which is slower and leaves a window
// where a failure strands the pair; here the kernel undoes the creation
// itself if any part fails (rtnl_newlink_create).
//
// It returns the host end's index and the peer's index in the container's
// namespace (the host end's IFLA_LINK), read from the kernel's echo of the
// new link (NLM_F_ECHO, honoured for links since Linux 6.3), or zeros when
// the kernel sent none.
func addVeth(ep Endpoint, master, mtu, nsFD int) (hostIndex, peerIndex int, err error) {
	req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_CREATE|unix.NLM_F_EXCL|unix.NLM_F_ACK|unix.NLM_F_ECHO)
	msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
	msg.Flags, msg.Change = unix.IFF_UP, unix.IFF_UP
	req.AddData(msg)
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(ep.HostName)))
	req.AddData(nl.NewRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu))))
	req.AddData(nl.NewRtAttr(unix.IFLA_MASTER, nl.Uint32Attr(uint32(master))))
	info := nl.NewRtAttr(unix.IFLA_LINKINFO, nil)
	info.AddRtAttr(nl.IFLA_INFO_KIND, nl.NonZeroTerminated("veth"))
	data := info.AddRtAttr(nl.IFLA_INFO_DATA, nil)
	peer := data.AddRtAttr(nl.VETH_INFO_PEER, nil)
	// The peer cannot be set up here: the kernel configures it before the
	// pair is linked, and veth_open fails with ENOTCONN.
	nl.NewIfInfomsgChild(peer, unix.AF_UNSPEC)
	peer.AddRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(ep.IfName))
	peer.AddRtAttr(unix.IFLA_MTU, nl.Uint32Attr(uint32(mtu)))
	if ep.MAC != nil {
		peer.AddRtAttr(unix.IFLA_ADDRESS, []byte(ep.MAC))
	}
	peer.AddRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(nsFD)))
	req.AddData(info)
	msgs, err := req.Execute(unix.NETLINK_ROUTE, unix.RTM_NEWLINK)
	if err != nil {
		return 0, 0, err
	}
	for _, m := range msgs {
		if l, err := netlink.LinkDeserialize(nil, m); err == nil && l.Attrs().Name == ep.HostName {
			return l.Attrs().Index, l.Attrs().ParentIndex, nil
		}
	}
	return 0, 0, nil
}

// configureInside finishes the container's end: lo up, address, up,
// default route (which needs the subnet route that comes with the address
// once the link is up).
func configureInside(nsFD, index int, ep Endpoint) error {
	h, err := handleAt(nsFD)
	if err != nil {
		return err
	}
	defer h.Close()
	if err := loopbackUp(h); err != nil {
		return err
	}
	var l netlink.Link = &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Index: index, Name: ep.IfName}}
	if index == 0 {
		if l, err = h.LinkByName(ep.IfName); err != nil {
			return fmt.Errorf("look up %s: %w", ep.IfName, err)
		}
	}
	if err := h.AddrAdd(l, &netlink.Addr{IPNet: prefixIPNet(ep.Addr)}); err != nil {
		return fmt.Errorf("add address %v: %w", ep.Addr, err)
	}
	if err := h.LinkSetUp(l); err != nil {
		return fmt.Errorf("set %s up: %w", ep.IfName, err)
	}
	if !ep.Gateway.IsValid() {
		return nil
	}
	route := &netlink.Route{
		LinkIndex: l.Attrs().Index,
		Dst:       &net.IPNet{IP: net.IPv4zero.To4(), Mask: net.CIDRMask(0, 32)},
		Gw:        ep.Gateway.AsSlice(),
	}
	if err := h.RouteAdd(route); err != nil {
		return fmt.Errorf("add default route via %v: %w", ep.Gateway, err)
	}
	return nil
}

// handleAt opens a netlink socket in the namespace nsFD, through Do:
// netlink.NewHandleAt switches the caller's own thread and back, and
// returns it to the scheduler even if switching back failed.
func handleAt(nsFD int) (*netlink.Handle, error) {
	var h *netlink.Handle
	err := Do(nsFD, func() (err error) {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("netlink socket: %w", err)
	}
	return h, nil
}

// loopbackIndex is lo's index in every network namespace
// (LOOPBACK_IFINDEX, include/net/flow.h; fixed since Linux 3.8).
const loopbackIndex = 1

func loopbackUp(h *netlink.Handle) error {
	if err := h.LinkSetUp(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: loopbackIndex}}); err != nil {
		return fmt.Errorf("set lo up: %w", err)
	}
	return nil
}

// LoopbackUp brings lo up in the network namespace nsFD (a new namespace
// starts with it down). Attach does it too; this is for containers with
// no network but their own.
func LoopbackUp(nsFD int) error {
	h, err := handleAt(nsFD)
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	defer h.Close()
	if err := loopbackUp(h); err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	return nil
}

// Detach deletes the host end hostName of a veth pair in the calling
// thread's network namespace; the kernel deletes the container's end
// with it. A missing link is not an error (the pair also dies with the
// container's namespace); a link of that name that is not a veth is left
// alone and is.
func Detach(hostName string) error {
	if err := validName("host veth", hostName); err != nil {
		return fmt.Errorf("detach: %w", err)
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		return fmt.Errorf("detach %s: netlink socket: %w", hostName, err)
	}
	defer h.Close()
	l, err := lookup(h, hostName)
	if err != nil || l == nil {
		return err
	}
	if l.Type() != "veth" {
		return fmt.Errorf("detach %s: link is a %s, not a veth", hostName, l.Type())
	}
	if err := h.LinkDel(l); err != nil && !errors.Is(err, unix.ENODEV) {
		return fmt.Errorf("detach %s: %w", hostName, err)
	}
	return nil
}

// delLinkByName deletes a link in one request: RTM_DELLINK accepts a name
// in place of an index (rtnl_dellink).
func delLinkByName(name string) error {
	req := nl.NewNetlinkRequest(unix.RTM_DELLINK, unix.NLM_F_ACK)
	req.AddData(nl.NewIfInfomsg(unix.AF_UNSPEC))
	req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
	_, err := req.Execute(unix.NETLINK_ROUTE, 0)
	return err
}
