package app

import (
	"log/slog"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/internal/broker"
)

func TestReload_classifies(t *testing.T) {
	cfg := config.Defaults()
	a, err := New(cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	level := new(slog.LevelVar)
	a.UseLevelVar(level)

	next := cfg
	next.Listeners.TCP = append([]config.TCPListener(nil), cfg.Listeners.TCP...)
	next.Log.Level = "warn"
	next.MQTT.MaxConnections = 100
	next.MQTT.MaxPacketSize = 4096
	next.MQTT.MaxInflight = 7
	next.Listeners.TCP[0].MaxConnections = 5
	next.Listeners.TCP[0].Address = ":1884"

	rep := a.Reload(next)
	require.Empty(t, rep.Errors)
	require.ElementsMatch(t, []string{"log.level", "mqtt.max_connections", "mqtt.max_packet_size", "listeners.tcp.0.max_connections"}, rep.Applied)
	require.ElementsMatch(t, []string{"mqtt.max_inflight", "listeners.tcp.0.address"}, rep.NeedRestart)
	require.Equal(t, slog.LevelWarn, level.Level())
	require.Equal(t, broker.Limits{MaxConnections: 100, MaxPacketSize: 4096}, a.Broker().Limits())

	again := a.Reload(next)
	require.Empty(t, again.Applied, "nothing new to apply")
	require.ElementsMatch(t, rep.NeedRestart, again.NeedRestart, "still waiting for a restart")
}
