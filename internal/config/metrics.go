package config

import (
	"fmt"
	"net"
	"strconv"
)

// checkMetricsAddr accepts METRICS_ADDR: [host]:port, with a port other
// than the public one (metrics are never served on the public port).
func checkMetricsAddr(addr string, publicPort int) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("is %q; want [host]:port, e.g. :9091", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("is %q; want a port from 1 to 65535", addr)
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("is %q; want an IP address or no host", addr)
	}
	if n == publicPort {
		return fmt.Errorf("is %q; it must not be the public port (PORT=%d)", addr, publicPort)
	}
	return nil
}
