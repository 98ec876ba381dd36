package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"
)

// serveFaceStandIn answers the provider's face-verification calls (the
// HTTP face service protocol of `dopaid serve --face-url`) on a loopback
// address with a match, so that a server in its production configuration
// can proof the bench's synthetic citizens, who have no faces. It stops
// when ctx ends. It is a stand-in for the vendor, never for the provider.
func serveFaceStandIn(ctx context.Context, addr string) (string, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil || !isLoopback(host) {
		return "", fmt.Errorf("--face-service %q must be a loopback host:port", addr)
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return "", fmt.Errorf("face service stand-in: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /verify", func(w http.ResponseWriter, r *http.Request) {
		var call struct {
			PhotoRef string `json:"photo_ref"`
			Selfie   []byte `json:"selfie"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 8<<20)).Decode(&call); err != nil || len(call.Selfie) == 0 {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{
			"match": true, "score": 0.99, "threshold": 0.8, "liveness": "bona_fide", "liveness_score": 0.99,
			"vendor": "dopaid-bench-stand-in", "model_version": "none",
		})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	// Should it stop serving, the provider shows "face service
	// unavailable" and enrolment reports it.
	go srv.Serve(ln)
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	return "http://" + ln.Addr().String() + "/verify", nil
}
