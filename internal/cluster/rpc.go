package cluster

func (n *Node) subscribeRPC() error { return nil }
