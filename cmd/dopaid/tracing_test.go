package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	"google.golang.org/protobuf/proto"

	"github.com/dopaid/dopaid/op"
	"github.com/dopaid/dopaid/storage"
)

// otlpCollector is an OTLP/HTTP trace receiver: it keeps every span's name
// and every attribute value it is sent.
type otlpCollector struct {
	mu     sync.Mutex
	names  []string
	values []string
}

func (c *otlpCollector) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var req collectortrace.ExportTraceServiceRequest
	if r.URL.Path != "/v1/traces" || proto.Unmarshal(b, &req) != nil {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	add := func(kvs []*commonpb.KeyValue) {
		for _, kv := range kvs {
			c.values = append(c.values, kv.GetKey()+"="+kv.GetValue().String())
		}
	}
	for _, rs := range req.GetResourceSpans() {
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				c.names = append(c.names, sp.GetName())
				add(sp.GetAttributes())
				for _, ev := range sp.GetEvents() {
					c.values = append(c.values, ev.GetName())
					add(ev.GetAttributes())
				}
				c.values = append(c.values, sp.GetStatus().GetMessage())
			}
		}
	}
	w.Header().Set("Content-Type", "application/x-protobuf")
	b, _ = proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Write(b)
}

// TestTracesOverOTLP: with --otlp-endpoint, a sign-in and a code exchange
// reach the collector as spans named by route and store method, and no
// span carries the client's secret, the code, a token or the citizen.
func TestTracesOverOTLP(t *testing.T) {
	forEachBackend(t, func(t *testing.T, database string) {
		col := &otlpCollector{}
		srv := httptest.NewServer(col)
		t.Cleanup(srv.Close)
		ts := boot(t, database, func(m *Main) { m.Config.OTLPEndpoint = srv.URL })
		c := newTestClient(t, ts, storage.Client{ID: "traced", AuthMethod: storage.AuthMethodSecretBasic})
		subject := "citizen-traced-42"
		code, verifier := c.code(t, ts, newBrowser(t), subject)
		tok := c.exchange(t, ts, code, verifier).tokens(t)
		// Close exports what is buffered before it returns.
		if err := ts.Close(); err != nil {
			t.Fatal(err)
		}
		col.mu.Lock()
		defer col.mu.Unlock()
		for _, want := range []string{"GET " + op.PathAuthorize, "POST " + op.PathToken, "store.CreateAuthRequest", "store.Client"} {
			if !slices.Contains(col.names, want) {
				t.Errorf("no span %q among %d", want, len(col.names))
			}
		}
		all := strings.Join(append(slices.Clone(col.names), col.values...), "\n")
		for _, secret := range []string{c.Secret, code, verifier, tok.AccessToken, tok.RefreshToken, subject, "authRequestID"} {
			if secret != "" && strings.Contains(all, secret) {
				t.Errorf("a span holds %.12q…", secret)
			}
		}
	})
}
