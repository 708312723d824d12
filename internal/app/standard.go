package app

// The standard bridge types: each package registers its type from init()
// (bridge.RegisterType). A new type is one more line here.
import (
	_ "github.com/iothub-dev/iothub/bridge/kafka"    // kafka_producer, kafka_consumer
	_ "github.com/iothub-dev/iothub/bridge/mqtt"     // mqtt
	_ "github.com/iothub-dev/iothub/bridge/postgres" // postgres
	_ "github.com/iothub-dev/iothub/bridge/redis"    // redis
	_ "github.com/iothub-dev/iothub/bridge/webhook"  // webhook
)
