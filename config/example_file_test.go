package config

import (
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"gopkg.in/yaml.v3"
)

func TestExample_decodesToDefaults(t *testing.T) {
	c, err := Parse(Example(), "example")
	require.NoError(t, err)
	require.Equal(t, Defaults(), c)
}

// TestExample_coversEveryKey checks that every key of Config appears in
// Example (the tls and wss keys in their commented-out entries) with a
// one-line description, and that those entries show the listener defaults.
func TestExample_coversEveryKey(t *testing.T) {
	var c Config
	// The bridge entry shows every type's keys at once, which no one
	// bridge has: it is decoded type by type (TestBridge_typeExamples).
	var doc yaml.Node
	require.NoError(t, yaml.Unmarshal(uncommentExample(), &doc))
	root := doc.Content[0]
	i := mappingIndex(root, "bridges")
	require.GreaterOrEqual(t, i, 0)
	root.Content = append(root.Content[:i], root.Content[i+2:]...)
	noBridges, err := yaml.Marshal(&doc)
	require.NoError(t, err)
	require.NoError(t, decode(&c, noBridges, "example", origins{}))
	docs := exampleDocs()
	n := 0
	leafKeys(reflect.TypeFor[Config](), "", func(key string) {
		n++
		require.NotEmpty(t, docs[key], "key %s has no line in Example with a # description", key)
	})
	require.Len(t, docs, n, "Example documents keys that Config does not have")

	tls := c.Listeners.TLS[0]
	tls.Name, tls.CertFile, tls.KeyFile = "", "", ""
	require.Equal(t, DefaultTLSListener(), tls)
	wss := c.Listeners.WSS[0]
	wss.Name, wss.CertFile, wss.KeyFile = "", "", ""
	require.Equal(t, DefaultWSSListener(), wss)
}

// TestExampleFileUpToDate keeps the repository's iothub.example.yaml equal
// to Example (go test -update rewrites it).
func TestExampleFileUpToDate(t *testing.T) {
	const path = "../iothub.example.yaml"
	if *update {
		require.NoError(t, os.WriteFile(path, Example(), 0o644))
	}
	got, err := os.ReadFile(path)
	require.NoError(t, err, "run go test ./config -run TestExampleFileUpToDate -update")
	require.Equal(t, string(Example()), string(got), "run go test ./config -run TestExampleFileUpToDate -update")
}

func TestEnvVars(t *testing.T) {
	vars := EnvVars()
	byName := map[string]EnvVar{}
	for _, v := range vars {
		require.NotContains(t, byName, v.Name, "two keys share a variable")
		require.NotEmpty(t, v.Doc, v.Name)
		require.Equal(t, EnvName(v.Key), v.Name)
		require.NotContains(t, v.Doc, "#")
		byName[v.Name] = v
	}
	require.Equal(t, EnvVar{Name: "IOTHUB_MQTT_MAX_INFLIGHT", Key: "mqtt.max_inflight", Default: "32",
		Doc: "unacknowledged QoS 1/2 messages per session"}, byName["IOTHUB_MQTT_MAX_INFLIGHT"])
	require.Equal(t, "168h", byName["IOTHUB_MQTT_MAX_SESSION_EXPIRY"].Default)
	require.Equal(t, "./data", byName["IOTHUB_DATA_DIR"].Default)
	require.Equal(t, ":8883", byName["IOTHUB_LISTENERS_TLS_0_ADDRESS"].Default)
	require.Equal(t, "tls", byName["IOTHUB_LISTENERS_TLS_0_NAME"].Default)
	require.Equal(t, "wss", byName["IOTHUB_LISTENERS_WSS_0_NAME"].Default)
	require.Equal(t, "/mqtt", byName["IOTHUB_LISTENERS_WSS_0_PATH"].Default)
	require.Contains(t, byName, "IOTHUB_LISTENERS_WS_0_ALLOWED_ORIGINS")
	require.Equal(t, "IOTHUB_NODE_NAME", vars[0].Name)
	for _, v := range vars {
		require.False(t, strings.Contains(v.Name, "_1_"), "only element 0 of a list has variables")
	}
}
