package api

import "net/http"

// clusterStatus serves GET /api/v1/cluster: the cluster as this node sees
// it (Options.Cluster), or this node alone when it runs without a cluster.
func (a *API) clusterStatus(w http.ResponseWriter, _ *http.Request) error {
	if a.o.Cluster != nil {
		if st := a.o.Cluster(); st != nil {
			writeJSON(w, http.StatusOK, st)
			return nil
		}
	}
	name := a.o.Broker.NodeName()
	writeJSON(w, http.StatusOK, map[string]any{"enabled": false, "name": name,
		"nodes": []map[string]any{{"name": name, "state": "up", "self": true}}})
	return nil
}
