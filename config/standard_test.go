package config_test

// The standard bridge types, registered for this package's tests as the
// hub registers them (internal/app/standard.go).
import (
	_ "github.com/iothub-dev/iothub/bridge/kafka"
	_ "github.com/iothub-dev/iothub/bridge/mqtt"
	_ "github.com/iothub-dev/iothub/bridge/postgres"
	_ "github.com/iothub-dev/iothub/bridge/redis"
	_ "github.com/iothub-dev/iothub/bridge/webhook"
)
