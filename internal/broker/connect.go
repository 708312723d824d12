package broker

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"log/slog"
	"net"
	"strings"
	"time"

	"github.com/iothub-dev/iothub/mqtt/packet"
	"github.com/iothub-dev/iothub/msg"
)

// connectParams is what handleConnect derives from CONNECT before opening
// the session.
type connectParams struct {
	clientID       string
	assigned       bool
	username       string
	cleanStart     bool
	expiry         uint32
	expiryCapped   bool
	window         int
	will           *msg.Message
	willDelay      uint32
	serverKeepAive uint16
	keepAliveSet   bool
	// imported is the session another node gave up for this CONNECT
	// (cluster_session.go); nil: none.
	imported []byte
	// props are the CONNECT's properties for the connected event (nil
	// unless a handler wants it).
	props map[string]any
	// info is what the connection keeps of the CONNECT (connectinfo.go).
	info *connectInfo
	// lostWill is the will of the connection this client had on a lost
	// node, published once the session is open (cluster_session.go).
	lostWill *lostWill
}

// handleConnect accepts or refuses CONNECT, opens or resumes the session,
// and answers CONNACK.
func (c *conn) handleConnect(fh packet.FixedHeader, body []byte) error {
	var p packet.Connect
	if err := p.Decode(fh, body, 0); err != nil {
		if packet.CodeOf(err) == packet.UnsupportedProtocolVersion {
			c.version = packet.V311
			if p.Version == packet.V5 {
				c.version = packet.V5
			}
			c.emitConnack(&p, nil, packet.UnsupportedProtocolVersion) // events_client.go
			c.refuse(packet.UnsupportedProtocolVersion)
			return nil
		}
		return err
	}
	c.version = p.Version
	if c.version == packet.V31 {
		c.version = packet.V311
	}
	c.applyCertIdentity(&p.Username, &p.ClientID)
	cp, code := c.connectParams(&p)
	if code == packet.Success {
		code = c.authenticate(&p, &cp) // auth.go
	}
	c.emitConnack(&p, &cp, code) // events_client.go
	if code != packet.Success {
		c.refuse(code)
		return nil
	}
	if c.s.wantsConnectEvents() {
		cp.props = propsMap(&p.Properties)
	}
	c.keepAliveSecs = p.KeepAlive
	if cp.keepAliveSet {
		c.keepAliveSecs = cp.serverKeepAive
	}
	if c.keepAliveSecs == 0 {
		c.probeIfSilent()
	}
	c.clientMaxPacket = p.Properties.MaximumPacketSize
	c.clientAliasMax = p.Properties.TopicAliasMaximum
	c.connect = cp.info
	c.username = usernamePtr(c.auth.id, cp.username)  // takeover.go
	if owner, ok := c.s.mayOwn(c, cp.clientID); !ok { // takeover.go
		c.ownerRefused(&cp, owner)
		return nil
	}
	done, code, owned := c.claim(&cp) // cluster.go
	if code != packet.Success {
		if !owned { // an owned session's refusal is answered already
			c.refuse(code)
		}
		return nil
	}
	owner, ok := c.s.openSession(c, &cp)
	done()
	if !ok {
		c.ownerRefused(&cp, owner)
		return nil
	}
	if cp.lostWill != nil {
		c.s.publishAdoptedWill(cp.lostWill.m, cp.lostWill.expiry) // cluster_session.go
	}
	if c.keepAliveSecs == 0 {
		// Keep alive 0 turns the mechanism off: clear the connect timeout.
		c.park.idleAt = 0
		_ = c.nc.SetReadDeadline(time.Time{})
	}
	c.armKeepAlive()
	return nil
}

// probeIfSilent turns TCP keep-alive probes on (Go's defaults: after 15 s
// of silence, every 15 s, 9 unanswered close) for a client with keep alive
// 0, which nothing else would find gone. The hub's listeners accept
// without them (internal/app: listenMQTT): for every other client the MQTT
// keep alive does that job, and four setsockopt calls per accepted
// connection were a tenth of a connect's system calls.
func (c *conn) probeIfSilent() {
	tc, _ := c.nc.(*net.TCPConn)
	if sc, ok := c.nc.(SocketConn); ok && tc == nil {
		tc = sc.Socket()
	}
	if tc != nil {
		_ = tc.SetKeepAliveConfig(net.KeepAliveConfig{Enable: true})
	}
}

// connectParams validates CONNECT against the server's options and derives
// the session parameters; a non-success code refuses the connection.
func (c *conn) connectParams(p *packet.Connect) (connectParams, packet.ReasonCode) {
	s := c.s
	v5 := c.version == packet.V5
	cp := connectParams{cleanStart: p.CleanStart}
	cp.clientID, cp.username = cloneIDs(p.ClientID, p.Username)
	if c.overConnectionLimit() {
		return cp, pick(v5, packet.ServerBusy, packet.V311ServerUnavailable)
	}
	if v5 && p.Properties.AuthMethod != "" {
		return cp, packet.BadAuthenticationMethod
	}
	if cp.clientID == "" {
		if !v5 && !p.CleanStart {
			return cp, packet.V311IdentifierRejected
		}
		cp.clientID, cp.assigned = newClientID(), true
	}
	cp.expiry = sessionExpiry(p, v5)
	if max := s.opts.MaxSessionExpiry; max > 0 && cp.expiry > 0 && time.Duration(cp.expiry)*time.Second > max {
		cp.expiry, cp.expiryCapped = uint32(max/time.Second), true
	}
	cp.window = s.opts.MaxInflight
	if rm := int(p.Properties.ReceiveMaximum); rm > 0 && rm < cp.window {
		cp.window = rm
	}
	if code := c.capKeepAlive(p, &cp, v5); code != packet.Success {
		return cp, code
	}
	if p.WillFlag {
		if err := s.checkTopicLimits(p.WillTopic); err != nil {
			return cp, pick(v5, packet.TopicNameInvalid, packet.V311ServerUnavailable)
		}
		if p.WillRetain && !s.opts.RetainAvailable {
			return cp, pick(v5, packet.RetainNotSupported, packet.V311ServerUnavailable)
		}
		cp.will = c.willMessage(p, cp.clientID)
		cp.willDelay = p.WillProperties.WillDelay
	}
	cp.info = newConnectInfo(p, cp.will, v5)
	return cp, packet.Success
}

// capKeepAlive applies mqtt.max_keepalive. A v5 client asking for more (or
// for 0) is told Server Keep Alive. A 3.1.1 client cannot be told: one
// asking for 0 (it promises nothing) is admitted and closed when silent for
// 1.5 × the cap, which it cannot tell from a lost connection; one asking for
// more than the cap would be cut off between its own pings, so it is refused
// (0x02, as Mosquitto does) and the refusal logged with the reason.
func (c *conn) capKeepAlive(p *packet.Connect, cp *connectParams, v5 bool) packet.ReasonCode {
	max := c.s.opts.MaxKeepAlive
	if max <= 0 || p.KeepAlive != 0 && time.Duration(p.KeepAlive)*time.Second <= max {
		return packet.Success
	}
	if !v5 && p.KeepAlive != 0 {
		c.logger().Info("refusing 3.1.1 client: keep alive above mqtt.max_keepalive, which 3.1.1 cannot announce",
			"client_id", p.ClientID, "keep_alive", p.KeepAlive, "max_keepalive", max)
		return packet.V311IdentifierRejected
	}
	cp.serverKeepAive, cp.keepAliveSet = uint16(max/time.Second), true
	return packet.Success
}

func pick(v5 bool, code5, code311 packet.ReasonCode) packet.ReasonCode {
	if v5 {
		return code5
	}
	return code311
}

// sessionExpiry returns the requested session expiry interval in seconds:
// v5 from the property; 3.1.1 clean session → 0, persistent → never.
func sessionExpiry(p *packet.Connect, v5 bool) uint32 {
	if v5 {
		return p.Properties.SessionExpiry
	}
	if p.CleanStart {
		return 0
	}
	return neverExpire
}

// willMessage builds the will from CONNECT. Its payload and strings alias the
// CONNECT body, which the message then owns.
func (c *conn) willMessage(p *packet.Connect, clientID string) *msg.Message {
	return &msg.Message{
		Topic:           p.WillTopic,
		Payload:         p.WillPayload,
		QoS:             p.WillQoS,
		Retain:          p.WillRetain,
		ClientID:        clientID,
		Username:        p.Username,
		PeerHost:        c.remote,
		PayloadFormat:   p.WillProperties.PayloadFormat,
		ContentType:     p.WillProperties.ContentType,
		ResponseTopic:   p.WillProperties.ResponseTopic,
		CorrelationData: p.WillProperties.CorrelationData,
		UserProperties:  userProps(p.WillProperties.User),
		Origin:          msg.Origin{Kind: msg.OriginWill},
	}
}

// newClientID returns an id for a client that sent an empty one.
func newClientID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return "iothub-" + hex.EncodeToString(b[:])
}

// refuse answers CONNACK with a failure code and closes the connection.
func (c *conn) refuse(code packet.ReasonCode) {
	c.setCause("connect_refused")
	name := reasonLabel(packet.ConnackReasonV5(code))
	c.s.stats.connackRefused.add(name, 1)
	if !c.enqueue(outItem{pkt: &packet.Connack{ReasonCode: code}, closeAfter: true}) {
		c.closeNow()
	}
	c.s.sec.refuseLog.Log(c.logger(), slog.LevelInfo, "connection refused", "code", name)
}

// reasonLabel names a reason code in snake_case ("not_authorized"), the
// form of metric labels and logs; 3.1.1 CONNACK codes are named by their
// MQTT 5 equivalent first (packet.ConnackReasonV5), so both versions
// count alike.
func reasonLabel(code packet.ReasonCode) string {
	return strings.ReplaceAll(code.String(), " ", "_")
}

// connack builds the CONNACK for an accepted connection.
func (c *conn) connack(cp *connectParams, present bool) *packet.Connack {
	ack := &packet.Connack{SessionPresent: present}
	if c.version != packet.V5 {
		return ack
	}
	o := &c.s.opts
	pr := &ack.Properties
	if cp.assigned {
		pr.AssignedClientID = cp.clientID
	}
	if cp.keepAliveSet {
		pr.ServerKeepAlive, pr.HasServerKeepAlive = cp.serverKeepAive, true
	}
	if cp.expiryCapped {
		pr.SessionExpiry, pr.HasSessionExpiry = cp.expiry, true
	}
	pr.ReceiveMaximum = uint16(o.MaxInflight)
	pr.MaximumPacketSize = uint32(c.maxPacketSize())
	pr.TopicAliasMaximum = uint16(o.TopicAliasMaximum)
	if !o.RetainAvailable {
		pr.RetainAvailable, pr.HasRetainAvailable = 0, true
	}
	return ack
}

// errExpiryFromZero is the v5 rule: a session that connected with expiry 0
// cannot set one on DISCONNECT.
var errExpiryFromZero = errors.New("DISCONNECT sets a session expiry after CONNECT had none")

// updateExpiryOnDisconnect applies the v5 DISCONNECT Session Expiry Interval.
func (ss *Session) updateExpiryOnDisconnect(secs uint32) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.expiry == 0 && secs != 0 {
		return &packet.Error{Code: packet.ProtocolError, Err: errExpiryFromZero}
	}
	if max := ss.s.opts.MaxSessionExpiry; max > 0 && time.Duration(secs)*time.Second > max {
		secs = uint32(max / time.Second)
	}
	ss.expiry = secs
	return nil
}

// cloneIDs copies a CONNECT's client id and username into one allocation:
// they live as long as the session, and the decoded strings alias the
// packet's whole body (password and will included), which would stay
// allocated with them.
func cloneIDs(clientID, username string) (string, string) {
	if clientID == "" && username == "" {
		return "", ""
	}
	var sb strings.Builder // one allocation; + would return a lone operand uncopied
	sb.Grow(len(clientID) + len(username))
	sb.WriteString(clientID)
	sb.WriteString(username)
	both := sb.String()
	return both[:len(clientID)], both[len(clientID):]
}
