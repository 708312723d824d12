// Package run is the demos' stage crew: it starts what an example's story
// needs — a Kafka (franz-go's kfake, over TCP, unless a real one is
// given), the hub, the example programs — as child processes on free
// loopback ports, collects the JSON events those programs print one per
// line on stdout, and stops everything at the end. Each child's stderr goes
// to a log file in the run's directory, named in the output.
//
// It is not part of what users copy: the example programs beside each
// demo are. Events.Wait and Hub.Call are safe for concurrent use; a Runner
// is driven from one goroutine.
package run
