package bridgemgr_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/iothub-dev/iothub/config"
	"github.com/iothub-dev/iothub/examples/bridgetype/lines"
	"github.com/iothub-dev/iothub/internal/bridgemgr"
	"github.com/iothub-dev/iothub/internal/rule"
	"github.com/iothub-dev/iothub/msg"
)

// TestExampleType: the bridge type of docs/bridges.md ("Writing a
// bridge"), registered by its package alone, is configured, documented in
// the example file, fed by a rule and delivers through the shared engine:
// neither config nor this package knows it.
func TestExampleType(t *testing.T) {
	code, err := os.ReadFile("../../examples/bridgetype/lines/lines.go")
	require.NoError(t, err)
	doc, err := os.ReadFile("../../docs/bridges.md")
	require.NoError(t, err)
	require.True(t, strings.Contains(string(doc), string(code)), "docs/bridges.md shows examples/bridgetype/lines/lines.go as it is")

	require.Contains(t, string(config.Example()), "#    # type lines:\n#    lines:\n#      path: \"\" # the file")
	dir := t.TempDir()
	out := filepath.Join(dir, "out.txt")
	cfg, err := config.Parse([]byte(`data_dir: `+dir+`
bridges:
  - name: log
    type: lines
    lines: {path: `+out+`}
`), "t.yaml")
	require.NoError(t, err)
	require.Equal(t, out, cfg.Bridges[0].Settings.(*lines.Config).Lines.Path)
	_, err = config.Parse([]byte("bridges:\n  - {name: log, type: lines}\n"), "t.yaml")
	require.ErrorContains(t, err, "bridges.0.lines.path: required")

	_, rr := startWithRules(t, bridgemgr.Options{DataDir: dir}, cfg.Bridges)
	_, err = rr.Create(rule.Rule{ID: "r", SQL: `SELECT clientid, payload.battery AS battery FROM "devices/+/state"`, Enabled: true,
		Actions: []rule.ActionSpec{{"type": "bridge", "bridge": "log"}}})
	require.NoError(t, err)
	rr.HandleEventInline(context.Background(), &msg.Event{Kind: msg.EventMessagePublished, ClientID: "lock1", Time: time.Now(),
		Message: &msg.Message{Topic: "devices/lock1/state", Payload: []byte(`{"battery":83.4}`), ClientID: "lock1", QoS: 1}})
	require.Eventually(t, func() bool {
		b, _ := os.ReadFile(out)
		return strings.TrimSpace(string(b)) == `devices/lock1/state {"clientid":"lock1","battery":83.4}`
	}, 30*time.Second, 10*time.Millisecond)
}

// startWithRules starts a bridge manager with the bridges and a rule
// runner whose bridge actions reach them; both stop with the test.
func startWithRules(t *testing.T, o bridgemgr.Options, bridges []config.Bridge) (*bridgemgr.Manager, *rule.Runner) {
	t.Helper()
	mgr := bridgemgr.New(o)
	reg := rule.NewRegistry()
	require.NoError(t, mgr.Register(reg))
	require.NoError(t, mgr.Start(bridges))
	t.Cleanup(func() { require.NoError(t, mgr.Close(context.Background())) })
	rr := rule.NewRunner(rule.Options{Registry: reg})
	require.NoError(t, rr.Start())
	t.Cleanup(func() { require.NoError(t, rr.Close(context.Background())) })
	return mgr, rr
}
