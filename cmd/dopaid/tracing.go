package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"

	"github.com/dopaid/dopaid/storage"
)

// OpenTelemetry traces, off unless --otlp-endpoint is set: a span for each
// HTTP request (named by its route pattern) and for each store call (named
// by the method). Attributes hold only the method, the route and the
// status; a failed store call says only which sentinel it was. No path,
// query, header, address, argument or error text reaches a span, so no
// personal data or credential can.

// tracing is the server's tracer provider, exporting over OTLP/HTTP.
type tracing struct {
	tp *sdktrace.TracerProvider
	t  trace.Tracer
}

func newTracing(ctx context.Context, endpoint string) (*tracing, error) {
	// A collector's base URL means its standard path for traces.
	if u, err := url.Parse(endpoint); err == nil && (u.Path == "" || u.Path == "/") {
		u.Path = "/v1/traces"
		endpoint = u.String()
	}
	exp, err := otlptracehttp.New(ctx, otlptracehttp.WithEndpointURL(endpoint))
	if err != nil {
		return nil, fmt.Errorf("otlp exporter: %w", err)
	}
	res := resource.NewSchemaless(attribute.String("service.name", "dopaid"))
	tp := sdktrace.NewTracerProvider(sdktrace.WithBatcher(exp), sdktrace.WithResource(res))
	return &tracing{tp: tp, t: tp.Tracer("github.com/dopaid/dopaid/cmd/dopaid")}, nil
}

// shutdown exports what is buffered and stops.
func (tr *tracing) shutdown(timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return tr.tp.Shutdown(ctx)
}

// handler starts a server span for each request. It runs inside
// metrics.instrument's status writer, and names the span after the route
// once the mux has matched it (see metrics.instrument).
func (tr *tracing) handler(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, sp := tr.t.Start(r.Context(), "HTTP "+r.Method, trace.WithSpanKind(trace.SpanKindServer))
		defer sp.End()
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		r2 := r.WithContext(ctx)
		h.ServeHTTP(sw, r2)
		// The mux recorded its pattern in r2: pass it out to
		// metrics.instrument, which sees r.
		r.Pattern = r2.Pattern
		route := routeOf(r2)
		method := r.Method
		if !knownMethods[method] {
			method = "OTHER"
		}
		sp.SetName(method + " " + route)
		sp.SetAttributes(attribute.String("http.request.method", method), attribute.String("http.route", route),
			attribute.Int("http.response.status_code", sw.status))
		if sw.status >= 500 {
			sp.SetStatus(codes.Error, "")
		}
	})
}

// end ends a store call's span, with only the kind of error.
func end(sp trace.Span, err error) {
	if err != nil {
		kind := "error"
		switch {
		case errors.Is(err, storage.ErrNotFound):
			kind = "not_found"
		case errors.Is(err, storage.ErrConflict):
			kind = "conflict"
		case errors.Is(err, storage.ErrAlreadyExists):
			kind = "already_exists"
		}
		sp.SetAttributes(attribute.String("error.type", kind))
		if kind == "error" {
			sp.SetStatus(codes.Error, "")
		}
	}
	sp.End()
}

// withTracing wraps s so that each store call is a span.
func withTracing(s storage.Store, tr *tracing) storage.Store {
	ts := tracedStore{Store: s, t: tr.t}
	if n, ok := s.(notifier); ok {
		return notifierTracedStore{tracedStore: ts, notifier: n}
	}
	return ts
}

type notifierTracedStore struct {
	tracedStore
	notifier
}

// validOTLPEndpoint reports whether s is an http(s) URL with a host.
func validOTLPEndpoint(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}
