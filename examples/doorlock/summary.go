package main

import (
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/iothub-dev/iothub/examples/internal/run"
)

// summary prints what each program saw, from the events they printed.
func (d *demo) summary() {
	events := d.r.Events.All()
	fmt.Fprintf(d.out, "\n== What each service saw\n")
	sections := []struct {
		from, title, header string
		msgs                []string // the events listed
		line                func(run.Event) string
	}{
		{"notification", "notification (Kafka message_state, group doorlock-notification): to the owners", "EVENT\tLOCK\tOWNER\tPROCESS", []string{"locked", "unlocked"},
			func(e run.Event) string {
				return e.S("msg") + "\t" + e.S("lock") + "\t" + e.S("owner") + "\t" + e.S("process_id")
			}},
		{"monitoring", "monitoring (Kafka message_state, group doorlock-monitoring): alarms published to alarms/{lock}", "EVENT\tLOCK\tALARM\tBATTERY", []string{"alarm", "cleared"},
			func(e run.Event) string {
				return e.S("msg") + "\t" + e.S("lock") + "\t" + e.S("alarm") + "\t" + e.S("battery")
			}},
		{"audit", "security audit (Kafka message_command, group doorlock-audit): every acknowledged command", "LOCK\tACTION\tNONCE\tTS\tACKED AT\tVERDICT", []string{"command"},
			func(e run.Event) string {
				ts := time.Unix(int64(e.F("ts")), 0).Format("01-02 15:04:05")
				acked := time.UnixMilli(int64(e.F("acked_at"))).Format("15:04:05.000")
				return e.S("lock") + "\t" + e.S("action") + "\t" + e.S("nonce") + "\t" + ts + "\t" + acked + "\t" + strings.ToUpper(e.S("verdict"))
			}},
		{"owner-app", "the owners' app (MQTT subscription alarms/#)", "TOPIC\tALARM\tBATTERY", []string{"alarm"}, func(e run.Event) string {
			return e.S("topic") + "\t" + e.S("alarm") + "\t" + e.S("battery")
		}},
		{"locks", "the locks (commands carried out or refused)", "LOCK\tEVENT\tACTION\tNONCE\tFINDINGS", []string{"executed", "rejected"}, func(e run.Event) string {
			return e.S("lock") + "\t" + e.S("msg") + "\t" + e.S("action") + "\t" + e.S("nonce") + "\t" + e.S("findings")
		}},
		{"backend", "the backend (HTTP API answers)", "LOCK\tACTION\tNONCE\tSTATUS\tLATENCY ms", []string{"answer"}, func(e run.Event) string {
			return e.S("lock") + "\t" + e.S("action") + "\t" + e.S("nonce") + "\t" + e.S("status") + "\t" + e.S("latency_ms")
		}},
	}
	for _, s := range sections {
		fmt.Fprintf(d.out, "\n%s\n", s.title)
		tw := tabwriter.NewWriter(d.out, 0, 0, 2, ' ', 0)
		fmt.Fprintf(tw, "  %s\n", s.header)
		for _, e := range events {
			if e.S("from") == s.from && slices.Contains(s.msgs, e.S("msg")) {
				fmt.Fprintf(tw, "  %s\n", s.line(e))
			}
		}
		_ = tw.Flush()
	}
}
