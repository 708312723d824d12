package cluster

func (n *Node) nodeDown(string) {}
