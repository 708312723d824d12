package broker

import (
	"context"
	"strconv"
	"time"

	"github.com/iothub-dev/iothub/msg"
)

// Version is the hub version reported in $SYS; set by the app at start.
var Version = "dev"

// sysLoop publishes the $SYS topics every SysInterval until Shutdown.
func (s *Server) sysLoop() {
	t := time.NewTicker(s.opts.SysInterval)
	defer t.Stop()
	s.publishSys()
	for {
		select {
		case <-s.quit:
			return
		case <-t.C:
			s.publishSys()
		}
	}
}

// publishSys publishes the broker's vital signs as retained messages under
// $SYS/brokers/{node}/. Clients see them by subscribing to $SYS/# (a leading
// wildcard does not match $ topics).
func (s *Server) publishSys() {
	st := s.Stats()
	prefix := "$SYS/brokers/" + s.opts.NodeName + "/"
	values := []struct {
		name  string
		value string
	}{
		{"version", Version},
		{"uptime", strconv.FormatInt(int64(st.Uptime/time.Second), 10)},
		{"clients/connected", strconv.FormatInt(st.Connections, 10)},
		{"clients/total", strconv.FormatUint(st.ConnectsTotal, 10)},
		{"sessions/count", strconv.FormatInt(st.Sessions, 10)},
		{"subscriptions/count", strconv.FormatInt(st.Subscriptions, 10)},
		{"retained/count", strconv.Itoa(st.Retained)},
		{"messages/received", strconv.FormatUint(st.MessagesIn, 10)},
		{"messages/sent", strconv.FormatUint(st.MessagesOut, 10)},
		{"messages/dropped", strconv.FormatUint(sum(st.Dropped), 10)},
		{"bytes/received", strconv.FormatUint(st.BytesIn, 10)},
		{"bytes/sent", strconv.FormatUint(st.BytesOut, 10)},
	}
	for _, v := range values {
		m := &msg.Message{Topic: prefix + v.name, Payload: []byte(v.value), Retain: true, Origin: msg.Origin{Kind: msg.OriginSys}}
		if _, err := s.Publish(context.Background(), m); err != nil {
			s.log.Debug("cannot publish $SYS topic", "topic", m.Topic, "error", err)
		}
	}
}

func sum(m map[string]uint64) uint64 {
	var n uint64
	for _, v := range m {
		n += v
	}
	return n
}
