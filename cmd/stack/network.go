package main

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"stack/engine"
	"stack/engine/state"
	"stack/network"
)

// newNetworkCmd is `stack network`: docker's network verbs, flags and
// output.
func newNetworkCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "network",
		Short: "Manage networks",
		Args:  cobra.NoArgs,
	}
	cmd.AddCommand(
		newNetworkCreateCmd(g),
		newNetworkListCmd(g),
		newNetworkInspectCmd(g),
		newNetworkRemoveCmd(g),
		newNetworkPruneCmd(g),
		newNetworkConnectCmd(g),
		newNetworkDisconnectCmd(g),
	)
	return cmd
}

func newNetworkCreateCmd(g *globals) *cobra.Command {
	var o network.CreateOptions
	var labels, opts, subnets, ranges, gateways []string
	var ipv6 bool
	cmd := &cobra.Command{
		Use:   "create [OPTIONS] NETWORK",
		Short: "Create a network",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Name = args[0]
			if ipv6 {
				return errors.New("--ipv6: IPv6 networks are not supported yet")
			}
			var err error
			if o.Labels, err = parseKeyValues("--label", labels, false); err != nil {
				return err
			}
			if o.Options, err = parseKeyValues("--opt", opts, true); err != nil {
				return err
			}
			if len(subnets) > 1 || len(ranges) > 1 || len(gateways) > 1 {
				return errors.New("only one --subnet, --ip-range and --gateway per network is supported")
			}
			if len(subnets) == 1 {
				o.Subnet = subnets[0]
			}
			if len(ranges) == 1 {
				o.IPRange = ranges[0]
			}
			if len(gateways) == 1 {
				o.Gateway = gateways[0]
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			n, err := e.CreateNetwork(cmd.Context(), o)
			if err != nil {
				return err
			}
			fmt.Fprintln(cmd.OutOrStdout(), n.ID)
			return nil
		},
	}
	fs := cmd.Flags()
	fs.StringVarP(&o.Driver, "driver", "d", "bridge", "Driver to manage the Network")
	fs.BoolVar(&o.Internal, "internal", false, "Restrict external access to the network")
	fs.BoolVar(&o.Attachable, "attachable", false, "Enable manual container attachment")
	fs.BoolVar(&ipv6, "ipv6", false, "Enable IPv6 networking")
	fs.StringArrayVar(&labels, "label", nil, "Set metadata on a network")
	fs.StringArrayVarP(&opts, "opt", "o", nil, "Set driver specific options")
	fs.StringArrayVar(&subnets, "subnet", nil, "Subnet in CIDR format that represents a network segment")
	fs.StringArrayVar(&ranges, "ip-range", nil, "Allocate container ip from a sub-range")
	fs.StringArrayVar(&gateways, "gateway", nil, "IPv4 Gateway for the master subnet")
	return cmd
}

// networkRow is one line of `network ls`, with docker's field names.
type networkRow struct {
	CreatedAt string
	Driver    string
	ID        string
	IPv4      string
	IPv6      string
	Internal  string
	Labels    string
	Name      string
	Scope     string

	labels map[string]string
}

// Label returns one label's value, for {{.Label "key"}}.
func (r networkRow) Label(name string) string { return r.labels[name] }

var networkHeader = networkRow{CreatedAt: "CREATED AT", Driver: "DRIVER", ID: "NETWORK ID", IPv4: "IPV4", IPv6: "IPV6", Internal: "INTERNAL", Labels: "LABELS", Name: "NAME", Scope: "SCOPE"}

const networkTableFormat = "table {{.ID}}\t{{.Name}}\t{{.Driver}}\t{{.Scope}}"

func newNetworkRow(n *network.Network, trunc bool) networkRow {
	id := n.ID
	if trunc {
		id = state.ShortID(id)
	}
	var labels []string
	for _, k := range slices.Sorted(maps.Keys(n.Labels)) {
		labels = append(labels, k+"="+n.Labels[k])
	}
	return networkRow{
		CreatedAt: createdAtText(n.Created), Driver: n.Driver, ID: id, IPv4: "true", IPv6: "false",
		Internal: fmt.Sprint(n.Internal), Labels: strings.Join(labels, ","), Name: n.Name, Scope: "local", labels: n.Labels,
	}
}

// networkFilter is `network ls --filter`: name=, id=, label=, driver=,
// type=custom.
type networkFilter struct{ names, ids, labels, drivers []string }

func parseNetworkFilters(fs []string) (*networkFilter, error) {
	f := &networkFilter{}
	for _, s := range fs {
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			return nil, fmt.Errorf("bad format of filter (expected name=value): %s", s)
		}
		switch k {
		case "name":
			f.names = append(f.names, v)
		case "id":
			f.ids = append(f.ids, v)
		case "label":
			f.labels = append(f.labels, v)
		case "driver":
			f.drivers = append(f.drivers, v)
		case "type", "scope":
			// every network here is custom and local
		default:
			return nil, fmt.Errorf("invalid filter '%s'", k)
		}
	}
	return f, nil
}

func (f *networkFilter) keep(n *network.Network) bool {
	if len(f.names) > 0 && !slices.ContainsFunc(f.names, func(s string) bool { return strings.Contains(n.Name, s) }) {
		return false
	}
	if len(f.ids) > 0 && !slices.ContainsFunc(f.ids, func(s string) bool { return strings.HasPrefix(n.ID, s) }) {
		return false
	}
	if len(f.drivers) > 0 && !slices.Contains(f.drivers, n.Driver) {
		return false
	}
	return matchLabels(n.Labels, f.labels)
}

func newNetworkListCmd(g *globals) *cobra.Command {
	var quiet, noTrunc bool
	var format string
	var filters []string
	cmd := &cobra.Command{
		Use:     "ls [OPTIONS]",
		Aliases: []string{"list"},
		Short:   "List networks",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseNetworkFilters(filters)
			if err != nil {
				return err
			}
			if quiet {
				format = "{{.ID}}"
			}
			lf, err := parseListFormat(format, networkTableFormat)
			if err != nil {
				return err
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			nets, err := e.Networks()
			if err != nil {
				return err
			}
			var rows []any
			for _, n := range nets {
				if filter.keep(n) {
					rows = append(rows, newNetworkRow(n, !noTrunc))
				}
			}
			return lf.write(cmd.OutOrStdout(), networkHeader, rows)
		},
	}
	cmd.Flags().BoolVarP(&quiet, "quiet", "q", false, "Only display network IDs")
	cmd.Flags().BoolVar(&noTrunc, "no-trunc", false, "Do not truncate the output")
	cmd.Flags().StringVar(&format, "format", "", "Format output using a custom template: 'table', 'table TEMPLATE', 'json', or a Go template")
	cmd.Flags().StringArrayVarP(&filters, "filter", "f", nil, "Provide filter values (e.g. \"driver=bridge\")")
	return cmd
}

// networkInspect is docker's NetworkResource, the fields that apply.
type networkInspect struct {
	Name       string
	ID         string `json:"Id"`
	Created    time.Time
	Scope      string
	Driver     string
	EnableIPv4 bool
	EnableIPv6 bool
	IPAM       struct {
		Driver  string
		Options map[string]string
		Config  []ipamConfig
	}
	Internal   bool
	Attachable bool
	Ingress    bool
	ConfigFrom struct{ Network string }
	ConfigOnly bool
	Containers map[string]endpointInspect
	Options    map[string]string
	Labels     map[string]string
}

type ipamConfig struct {
	Subnet  string
	IPRange string `json:",omitempty"`
	Gateway string
}

type endpointInspect struct {
	Name        string
	EndpointID  string
	MacAddress  string
	IPv4Address string
	IPv6Address string
}

func inspectNetwork(e *engine.Engine, n *network.Network) (networkInspect, error) {
	r := networkInspect{
		Name: n.Name, ID: n.ID, Created: n.Created, Scope: "local", Driver: n.Driver, EnableIPv4: true,
		Internal: n.Internal, Attachable: n.Attachable, Containers: map[string]endpointInspect{},
		Options: n.Options, Labels: n.Labels,
	}
	if r.Options == nil {
		r.Options = map[string]string{}
	}
	if r.Labels == nil {
		r.Labels = map[string]string{}
	}
	r.IPAM.Driver = "default"
	c := ipamConfig{Subnet: n.Subnet.String(), Gateway: n.Gateway.String()}
	if n.IPRange.IsValid() && n.IPRange != n.Subnet {
		c.IPRange = n.IPRange.String()
	}
	r.IPAM.Config = []ipamConfig{c}
	cs, err := e.NetworkContainers(n.ID)
	if err != nil {
		return r, err
	}
	for _, c := range cs {
		if c.State.Status != "running" && c.State.Status != "paused" && c.State.Status != "restarting" {
			continue // docker lists active endpoints only
		}
		for _, ep := range c.Config.Endpoints {
			if ep.NetworkID == n.ID {
				r.Containers[c.Config.ID] = endpointInspect{Name: c.Config.Name, EndpointID: ep.NetworkID[:12] + c.Config.ID[:12], MacAddress: ep.MAC, IPv4Address: ep.Address.String()}
			}
		}
	}
	return r, nil
}

func newNetworkInspectCmd(g *globals) *cobra.Command {
	var format string
	cmd := &cobra.Command{
		Use:   "inspect [OPTIONS] NETWORK [NETWORK...]",
		Short: "Display detailed information on one or more networks",
		Args:  cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			var out []networkInspect
			var errs []error
			for _, ref := range args {
				n, err := e.Network(ref)
				if err != nil {
					errs = append(errs, fmt.Errorf("network %s not found", ref))
					continue
				}
				r, err := inspectNetwork(e, n)
				if err != nil {
					return err
				}
				out = append(out, r)
			}
			if err := writeInspect(cmd.OutOrStdout(), format, out); err != nil {
				return err
			}
			return errors.Join(errs...)
		},
	}
	cmd.Flags().StringVarP(&format, "format", "f", "", "Format output using a Go template ('json' for the JSON array)")
	return cmd
}

func newNetworkRemoveCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:     "rm NETWORK [NETWORK...]",
		Aliases: []string{"remove"},
		Short:   "Remove one or more networks",
		Args:    cobra.MinimumNArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return removeEach(cmd.OutOrStdout(), args, force, func(ref string) error {
				return e.RemoveNetwork(cmd.Context(), ref)
			})
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not error if the network does not exist")
	return cmd
}

func newNetworkPruneCmd(g *globals) *cobra.Command {
	var force bool
	var filters []string
	cmd := &cobra.Command{
		Use:   "prune [OPTIONS]",
		Short: "Remove all unused networks",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			filter, err := parseNetworkFilters(filters)
			if err != nil {
				return err
			}
			if !force {
				fmt.Fprint(cmd.OutOrStdout(), "WARNING! This will remove all custom networks not used by at least one container.\nAre you sure you want to continue? [y/N] ")
				if !confirmed(cmd.InOrStdin()) {
					return nil
				}
			}
			e, err := g.engine()
			if err != nil {
				return err
			}
			nets, err := e.Networks()
			if err != nil {
				return err
			}
			var removed []string
			for _, n := range nets {
				if !filter.keep(n) {
					continue
				}
				users, err := e.NetworkContainers(n.ID)
				if err != nil {
					return err
				}
				if len(users) > 0 {
					continue // used by a container, running or not
				}
				if err := e.RemoveNetwork(cmd.Context(), n.ID); err == nil {
					removed = append(removed, n.Name)
				}
			}
			if len(removed) > 0 {
				fmt.Fprintln(cmd.OutOrStdout(), "Deleted Networks:")
				for _, n := range removed {
					fmt.Fprintln(cmd.OutOrStdout(), n)
				}
			}
			return nil
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Do not prompt for confirmation")
	cmd.Flags().StringArrayVar(&filters, "filter", nil, "Provide filter values (e.g. \"label=<key>=<value>\")")
	return cmd
}

func newNetworkConnectCmd(g *globals) *cobra.Command {
	var aliases []string
	var ip string
	cmd := &cobra.Command{
		Use:   "connect [OPTIONS] NETWORK CONTAINER",
		Short: "Connect a container to a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return e.Connect(cmd.Context(), args[1], engine.NetworkAttachment{Network: args[0], Aliases: aliases, IPv4: ip})
		},
	}
	cmd.Flags().StringArrayVar(&aliases, "alias", nil, "Add network-scoped alias for the container")
	cmd.Flags().StringVar(&ip, "ip", "", "IPv4 address (e.g., 172.30.100.104)")
	return cmd
}

func newNetworkDisconnectCmd(g *globals) *cobra.Command {
	var force bool
	cmd := &cobra.Command{
		Use:   "disconnect [OPTIONS] NETWORK CONTAINER",
		Short: "Disconnect a container from a network",
		Args:  cobra.ExactArgs(2),
		RunE: func(cmd *cobra.Command, args []string) error {
			e, err := g.engine()
			if err != nil {
				return err
			}
			return e.Disconnect(cmd.Context(), args[1], args[0], force)
		},
	}
	cmd.Flags().BoolVarP(&force, "force", "f", false, "Force the container to disconnect from a network")
	return cmd
}
