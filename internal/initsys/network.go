package initsys

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/insomniacslk/dhcp/dhcpv4/nclient4"
	"github.com/vishvananda/netlink"

	"github.com/raym33/ainative/internal/atomicfile"
)

// Network brings up loopback and configures the first Ethernet interface
// by DHCP, renewing the lease in the background. Its Status feeds the
// status page.
type Network struct {
	log *slog.Logger

	mu     sync.Mutex
	iface  string
	addr   string // CIDR, once leased
	router string
	err    string
}

// NetworkStatus is the network part of the status page.
type NetworkStatus struct {
	Interface string `json:"interface,omitempty"`
	Address   string `json:"address,omitempty"`
	Router    string `json:"router,omitempty"`
	Error     string `json:"error,omitempty"`
}

// Status returns the current configuration.
func (n *Network) Status() NetworkStatus {
	n.mu.Lock()
	defer n.mu.Unlock()
	return NetworkStatus{Interface: n.iface, Address: n.addr, Router: n.router, Error: n.err}
}

func (n *Network) fail(err error) {
	n.mu.Lock()
	n.err = err.Error()
	n.mu.Unlock()
	n.log.Warn("network", "err", err)
}

// upLoopback sets lo up; the kernel assigns 127.0.0.1 itself.
func upLoopback() error {
	lo, err := netlink.LinkByName("lo")
	if err != nil {
		return fmt.Errorf("loopback: %w", err)
	}
	if err := netlink.LinkSetUp(lo); err != nil {
		return fmt.Errorf("loopback up: %w", err)
	}
	return nil
}

// findEthernet returns the first non-loopback device link, waiting up to
// wait for the driver to register it.
func findEthernet(ctx context.Context, wait time.Duration) (netlink.Link, error) {
	deadline := time.Now().Add(wait)
	for {
		links, err := netlink.LinkList()
		if err != nil {
			return nil, err
		}
		for _, l := range links {
			a := l.Attrs()
			if l.Type() == "device" && a.Flags&net.FlagLoopback == 0 && len(a.HardwareAddr) == 6 {
				return l, nil
			}
		}
		if time.Now().After(deadline) {
			return nil, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// Run configures the network until ctx is done: loopback, then DHCP on the
// first Ethernet interface if there is one.
func (n *Network) Run(ctx context.Context) {
	if err := upLoopback(); err != nil {
		n.fail(err)
		return
	}
	link, err := findEthernet(ctx, 2*time.Second)
	if err != nil {
		n.fail(err)
		return
	}
	if link == nil {
		n.log.Info("no network interface; loopback only")
		return
	}
	name := link.Attrs().Name
	n.mu.Lock()
	n.iface = name
	n.mu.Unlock()
	if err := netlink.LinkSetUp(link); err != nil {
		n.fail(fmt.Errorf("%s up: %w", name, err))
		return
	}
	backoff := time.Second
	for ctx.Err() == nil {
		renewIn, err := n.lease(ctx, link)
		if err != nil {
			n.fail(fmt.Errorf("dhcp on %s: %w", name, err))
			renewIn = backoff
			backoff = min(2*backoff, time.Minute)
		} else {
			backoff = time.Second
		}
		select {
		case <-ctx.Done():
		case <-time.After(renewIn):
		}
	}
}

// lease obtains a DHCP lease, applies it and returns when to renew.
func (n *Network) lease(ctx context.Context, link netlink.Link) (time.Duration, error) {
	name := link.Attrs().Name
	c, err := nclient4.New(name, nclient4.WithTimeout(2*time.Second), nclient4.WithRetry(3))
	if err != nil {
		return 0, err
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	l, err := c.Request(ctx)
	if err != nil {
		return 0, err
	}
	ack := l.ACK
	ipnet := &net.IPNet{IP: ack.YourIPAddr, Mask: ack.SubnetMask()}
	if ipnet.Mask == nil {
		ipnet.Mask = ack.YourIPAddr.DefaultMask()
	}
	if err := netlink.AddrReplace(link, &netlink.Addr{IPNet: ipnet}); err != nil {
		return 0, fmt.Errorf("address %v: %w", ipnet, err)
	}
	router := ""
	if gws := ack.Router(); len(gws) > 0 {
		gw := gws[0]
		route := &netlink.Route{LinkIndex: link.Attrs().Index, Gw: gw}
		if err := netlink.RouteReplace(route); err != nil {
			return 0, fmt.Errorf("default route via %v: %w", gw, err)
		}
		router = gw.String()
	}
	if dns := ack.DNS(); len(dns) > 0 {
		var b strings.Builder
		for _, ip := range dns {
			fmt.Fprintf(&b, "nameserver %v\n", ip)
		}
		if err := atomicfile.WriteBytes("/etc/resolv.conf", 0o644, []byte(b.String())); err != nil {
			n.log.Warn("resolv.conf", "err", err)
		}
	}
	n.mu.Lock()
	first := n.addr == ""
	n.addr, n.router, n.err = ipnet.String(), router, ""
	n.mu.Unlock()
	if first {
		n.log.Info("network configured", "interface", name, "address", ipnet, "router", router)
	}
	leaseTime := ack.IPAddressLeaseTime(time.Hour)
	return max(leaseTime/2, 30*time.Second), nil
}
