package config

import (
	"net"
	"strconv"
	"time"
)

// Cluster makes several hubs one service (docs/cluster.md). Without an
// address the hub runs alone and starts no cluster machinery at all.
type Cluster struct {
	// Address is the host:port this node listens on for the other nodes
	// ("": no cluster).
	Address string `yaml:"address"`
	// Advertise is the host:port the other nodes dial to reach this one
	// ("": Address).
	Advertise string `yaml:"advertise"`
	// Seeds are the host:port cluster addresses of nodes to join through;
	// a node may list itself, so every node can share one list.
	Seeds []string `yaml:"seeds"`
	// Name names the cluster; nodes of different clusters refuse each other.
	Name string `yaml:"name"`
	// Secret is shared by every node: a route connection that does not
	// present it is refused ("": node-to-node traffic is not authenticated).
	Secret Secret `yaml:"secret"`
	// TLS encrypts the routes between nodes, both ways authenticated by
	// certificates of one CA (all three files, or none: clear text).
	TLS ClusterTLS `yaml:"tls"`
	// Replicas is how many nodes hold each copy of the replicated state
	// (session registry, persistent sessions, retained messages): 1 or 3.
	Replicas int `yaml:"replicas"`
	// Dir holds this node's replicated state ("": <data_dir>/cluster).
	Dir string `yaml:"dir"`
	// ForwardTimeout is how long the node that received a QoS 1/2 message
	// waits for the nodes with interest to store it before it sends the
	// message again (its PUBACK waits for them).
	ForwardTimeout Duration `yaml:"forward_timeout"`
	// NodeTimeout is how long a node may stay silent before the others
	// take it for gone: its routes are purged and its sessions adopted.
	NodeTimeout Duration `yaml:"node_timeout"`
}

// ClusterTLS is the certificate a node presents on its routes (serving and
// dialling) and the CA that every other node's must be signed by.
type ClusterTLS struct {
	// CertFile and KeyFile are this node's certificate and key (PEM); the
	// certificate must allow server and client authentication.
	CertFile string `yaml:"cert_file"`
	KeyFile  string `yaml:"key_file"`
	// CAFile holds the CA certificates (PEM) the other nodes' are checked
	// against.
	CAFile string `yaml:"ca_file"`
}

// Enabled reports whether routes use TLS.
func (t *ClusterTLS) Enabled() bool { return t.CertFile != "" }

// Enabled reports whether this node joins a cluster.
func (c *Cluster) Enabled() bool { return c.Address != "" }

// defaultCluster is the cluster section when nothing is configured: off.
func defaultCluster() Cluster {
	return Cluster{
		Name:           "iothub",
		Replicas:       3,
		ForwardTimeout: Duration(2 * time.Second),
		NodeTimeout:    Duration(6 * time.Second),
	}
}

func (c *Cluster) validate(v *checker) {
	if c.Address != "" {
		checkHostPort(v, "cluster.address", c.Address)
	}
	if c.Advertise != "" {
		checkHostPort(v, "cluster.advertise", c.Advertise)
	}
	for i, s := range c.Seeds {
		checkHostPort(v, "cluster.seeds."+strconv.Itoa(i), s)
	}
	if c.Address == "" && len(c.Seeds) > 0 {
		v.bad("cluster.seeds", "needs cluster.address")
	}
	if c.Name == "" {
		v.bad("cluster.name", "required")
	}
	if c.Secret != "" && len(c.Secret) < 16 {
		v.bad("cluster.secret", "at least 16 characters")
	}
	if t := c.TLS; (t.CertFile != "" || t.KeyFile != "" || t.CAFile != "") && (t.CertFile == "" || t.KeyFile == "" || t.CAFile == "") {
		v.bad("cluster.tls", "cert_file, key_file and ca_file go together")
	}
	if c.Replicas != 1 && c.Replicas != 3 {
		v.bad("cluster.replicas", "%d is not 1 or 3", c.Replicas)
	}
	v.duration("cluster.forward_timeout", c.ForwardTimeout, 100*time.Millisecond, time.Minute)
	v.duration("cluster.node_timeout", c.NodeTimeout, time.Second, 10*time.Minute)
}

func checkHostPort(v *checker, key, addr string) {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		v.bad(key, "%q is not host:port: %v", addr, err)
		return
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		v.bad(key, "%q has no valid port", addr)
	}
}
