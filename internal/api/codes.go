package api

// The stable error codes of the HTTP API: the "code" of every error
// response. Clients may switch on them; they never change meaning. New
// codes are added here, and to the Error schema of openapi.json.
const (
	// CodeBadRequest: the body is not valid JSON, or not the expected shape.
	CodeBadRequest = "bad_request"
	// CodeInvalidField: a field (or query parameter) has a bad value; the
	// response names it in "field".
	CodeInvalidField = "invalid_field"
	// CodeBodyTooLarge: the body is over api.max_body_bytes.
	CodeBodyTooLarge = "body_too_large"
	// CodeUnauthorized: no API key, or an unknown or revoked one.
	CodeUnauthorized = "unauthorized"
	// CodeNotFound: no such endpoint.
	CodeNotFound = "not_found"
	// CodeMethodNotAllowed: the endpoint exists for other methods.
	CodeMethodNotAllowed = "method_not_allowed"
	// CodeClientNotFound: no session exists for the client id.
	CodeClientNotFound = "client_not_found"
	// CodeClientNotConnected: the client has a session but is offline.
	CodeClientNotConnected = "client_not_connected"
	// CodeSubscriptionNotFound: the client has no such subscription.
	CodeSubscriptionNotFound = "subscription_not_found"
	// CodeRetainedNotFound: no retained message on the topic.
	CodeRetainedNotFound = "retained_not_found"
	// CodeQuotaExceeded: the client has mqtt.max_subscriptions_per_client.
	CodeQuotaExceeded = "quota_exceeded"
	// CodeUnsupportedProtocol: the request needs MQTT 5 and the device
	// speaks 3.1.1 (request/response).
	CodeUnsupportedProtocol = "unsupported_protocol"
	// CodeNoSession: a command's device has no session (status no_session).
	CodeNoSession = "no_session"
	// CodeDropped: the device's session refused the command (status
	// dropped; "reason" says why).
	CodeDropped = "dropped"
	// CodeTimeout: the device did not reach the awaited step in time
	// (status timeout).
	CodeTimeout = "timeout"
	// CodeNotReady: the hub is starting or stopping (GET /ready).
	CodeNotReady = "not_ready"
	// CodeRuleNotFound: no rule has the id.
	CodeRuleNotFound = "rule_not_found"
	// CodeRuleExists: a rule with the id already exists (POST).
	CodeRuleExists = "rule_exists"
	// CodeRuleReadOnly: the rule comes from the configuration file
	// (rules.list): change the file and restart.
	CodeRuleReadOnly = "rule_read_only"
	// CodeInvalidSQL: the statement does not compile; the message gives
	// the position ("unknown function 'lowr' at 1:8"), field is "sql".
	CodeInvalidSQL = "invalid_sql"
	// CodeInvalidRule: the rule is refused for another reason (an action
	// that cannot be built, a republish loop, a bad id).
	CodeInvalidRule = "invalid_rule"
	// CodeSampleNoMatch: the sample event of a rule test is not one of the
	// statement's sources.
	CodeSampleNoMatch = "sample_no_match"
	// CodeEvalFailed: evaluating the statement on the sample failed (a
	// type mismatch, a bad argument).
	CodeEvalFailed = "evaluation_failed"
	// CodeSchemaNotFound: no schema has the name.
	CodeSchemaNotFound = "schema_not_found"
	// CodeSchemaExists: a schema with the name already exists (POST).
	CodeSchemaExists = "schema_exists"
	// CodeSchemaReadOnly: the schema comes from the configuration file
	// (rules.schemas): change the file and restart.
	CodeSchemaReadOnly = "schema_read_only"
	// CodeInvalidSchema: the schema is refused; for a source that does not
	// compile the message gives the line and column, field is "source".
	CodeInvalidSchema = "invalid_schema"
	// CodeBanNotFound: no ban of that kind and value.
	CodeBanNotFound = "ban_not_found"
	// CodeUsersDisabled: the built-in user store is off ("users" is not in
	// auth.chain).
	CodeUsersDisabled = "users_disabled"
	// CodeUserNotFound: no user has the name.
	CodeUserNotFound = "user_not_found"
	// CodeUserReadOnly: the user comes from the configuration file
	// (auth.users.static).
	CodeUserReadOnly = "user_read_only"
	// CodeDevicesDisabled: the device services are off (devices.enabled).
	CodeDevicesDisabled = "devices_disabled"
	// CodeShadowNotFound: the thing has no such shadow (or it was deleted).
	CodeShadowNotFound = "shadow_not_found"
	// CodeInvalidShadow: the shadow request document is refused; the
	// status and message are AWS IoT's (400, 413 or 415).
	CodeInvalidShadow = "invalid_shadow"
	// CodeVersionConflict: the request's version is not the current one
	// (409).
	CodeVersionConflict = "version_conflict"
	// CodeBusy: the service's queue is full; retry later (429).
	CodeBusy = "busy"
	// CodeDeviceNotFound: no device has the id in the registry.
	CodeDeviceNotFound = "device_not_found"
	// CodeDeviceExists: a device with the id is registered (create).
	CodeDeviceExists = "device_exists"
	// CodeInvalidDevice: a device field or an import is refused; the
	// message names the field.
	CodeInvalidDevice = "invalid_device"
	// CodeJobNotFound: no job has the id.
	CodeJobNotFound = "job_not_found"
	// CodeJobExists: a job with the id exists.
	CodeJobExists = "job_exists"
	// CodeJobTerminal: the job is completed or canceled already.
	CodeJobTerminal = "job_terminal"
	// CodeInvalidJob: the job definition or the firmware upload is
	// refused; the message says why.
	CodeInvalidJob = "invalid_job"
	// CodeFirmwareNotFound: no firmware file has the name.
	CodeFirmwareNotFound = "firmware_not_found"
	// CodeForbidden: a firmware download URL with a bad or expired
	// signature.
	CodeForbidden = "forbidden"
	// CodeBridgeNotFound: no bridge has the name.
	CodeBridgeNotFound = "bridge_not_found"
	// CodeBridgeExists: a bridge with the name already exists (POST).
	CodeBridgeExists = "bridge_exists"
	// CodeBridgeReadOnly: the bridge comes from the configuration file
	// (bridges): change the file and reload.
	CodeBridgeReadOnly = "bridge_read_only"
	// CodeUnavailable: the feature is not available in this process (the
	// log level of a hub whose logger was not built with a level variable).
	CodeUnavailable = "unavailable"
	// CodeClientConnected: the client is connected; discarding its
	// session needs it offline (kick it first).
	CodeClientConnected = "client_connected"
	// CodeTooManyAttempts: too many failed dashboard sign-ins from this
	// address; Retry-After says when to try again.
	CodeTooManyAttempts = "too_many_attempts"
	// CodeCSRF: a change through a dashboard session without its CSRF
	// token (X-CSRF-Token).
	CodeCSRF = "csrf_failed"
	// CodeReadOnlyRole: a change through the dashboard session of a
	// viewer (a read-only dashboard user) or with a read-only API key.
	CodeReadOnlyRole = "read_only_role"
	// CodeLastAdministrator: removing the dashboard user, or making it a
	// viewer, would leave no dashboard user who may change anything.
	CodeLastAdministrator = "last_administrator"
	// CodeKeyNotFound: no API key has the id.
	CodeKeyNotFound = "api_key_not_found"
	// CodeTooManyStreams: the hub serves as many live message streams as
	// it allows.
	CodeTooManyStreams = "too_many_streams"
	// CodeReservedTopic: the topic starts with '$': such topics belong to
	// the hub ($SYS and other namespaces) and cannot be published through
	// the API, unless a hub feature handles that namespace.
	CodeReservedTopic = "reserved_topic"
	// CodeInternal: a bug or an unexpected failure; the log has details.
	CodeInternal = "internal_error"
)

// ErrorCodes lists every code above, for the OpenAPI document's check.
func ErrorCodes() []string {
	return []string{
		CodeBadRequest, CodeInvalidField, CodeBodyTooLarge, CodeUnauthorized, CodeNotFound,
		CodeMethodNotAllowed, CodeClientNotFound, CodeClientNotConnected, CodeSubscriptionNotFound,
		CodeRetainedNotFound, CodeQuotaExceeded, CodeUnsupportedProtocol, CodeNoSession, CodeDropped,
		CodeTimeout, CodeNotReady, CodeRuleNotFound, CodeRuleExists, CodeRuleReadOnly, CodeInvalidSQL,
		CodeInvalidRule, CodeSampleNoMatch, CodeEvalFailed, CodeSchemaNotFound, CodeSchemaExists,
		CodeSchemaReadOnly, CodeInvalidSchema, CodeBanNotFound, CodeUsersDisabled,
		CodeUserNotFound, CodeUserReadOnly, CodeDevicesDisabled, CodeShadowNotFound, CodeInvalidShadow,
		CodeVersionConflict, CodeBusy, CodeDeviceNotFound, CodeDeviceExists, CodeInvalidDevice,
		CodeJobNotFound, CodeJobExists, CodeJobTerminal, CodeInvalidJob, CodeFirmwareNotFound,
		CodeForbidden, CodeBridgeNotFound, CodeBridgeExists, CodeBridgeReadOnly, CodeUnavailable,
		CodeClientConnected, CodeTooManyAttempts, CodeCSRF, CodeKeyNotFound, CodeTooManyStreams,
		CodeReservedTopic, CodeReadOnlyRole, CodeLastAdministrator, CodeInternal,
	}
}
