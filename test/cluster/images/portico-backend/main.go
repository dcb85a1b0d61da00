// Command portico-backend is the test cluster's image portico.dev/testcluster/backend: an
// HTTP backend for Portico's tests, run as a pod's container by the kubelet stand-in.
//
//	GET  /healthz            200 "ok", or 503 once readiness was switched off
//	POST /control/unready    switch readiness off (the pod's readiness probe starts failing)
//	POST /control/ready      switch it back on
//	GET  /slow?ms=N          answer after N ms (at most 60000)
//	GET  /status/N           answer with status N (100-599)
//	GET  /ws                 WebSocket echo (text and binary messages)
//	GET  /env                the process environment as a JSON object (what the kubelet set)
//	*    anything else       JSON: served_by (podIP:port), pod, namespace, node, method, path, host, headers
//
// Configuration (environment): PORT (default 8080); POD_NAME, NAMESPACE, POD_IP, NODE_NAME
// (downward API) are echoed back; SHUTDOWN_DELAY_MS keeps serving that long after SIGTERM
// before draining; IGNORE_SIGTERM=1 ignores SIGTERM (only SIGKILL stops it); READY=false
// starts with readiness off. On SIGTERM it stops accepting connections, lets in-flight
// requests finish (at most 30 s) and exits 0.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/websocket"
)

func main() {
	port := envOr("PORT", "8080")
	var ready atomic.Bool
	ready.Store(os.Getenv("READY") != "false")
	var inFlight atomic.Int64

	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		if !ready.Load() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("POST /control/unready", func(w http.ResponseWriter, r *http.Request) {
		ready.Store(false)
		fmt.Fprintln(w, "readiness off")
	})
	mux.HandleFunc("POST /control/ready", func(w http.ResponseWriter, r *http.Request) {
		ready.Store(true)
		fmt.Fprintln(w, "readiness on")
	})
	mux.HandleFunc("GET /status/{code}", func(w http.ResponseWriter, r *http.Request) {
		code, err := strconv.Atoi(r.PathValue("code"))
		if err != nil || code < 100 || code > 599 {
			http.Error(w, "status must be 100-599", http.StatusBadRequest)
			return
		}
		w.WriteHeader(code)
	})
	mux.HandleFunc("GET /slow", func(w http.ResponseWriter, r *http.Request) {
		ms, err := strconv.Atoi(r.URL.Query().Get("ms"))
		if err != nil || ms < 0 || ms > 60_000 {
			http.Error(w, "ms must be 0-60000", http.StatusBadRequest)
			return
		}
		select {
		case <-time.After(time.Duration(ms) * time.Millisecond):
		case <-r.Context().Done():
			return
		}
		echo(w, r, port)
	})
	mux.HandleFunc("GET /env", func(w http.ResponseWriter, r *http.Request) {
		env := map[string]string{}
		for _, kv := range os.Environ() {
			if k, v, ok := strings.Cut(kv, "="); ok {
				env[k] = v
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(env)
	})
	// websocket.Server without a Handshake accepts any Origin (websocket.Handler demands one).
	mux.Handle("GET /ws", websocket.Server{Handler: func(ws *websocket.Conn) {
		defer ws.Close()
		_ = ws.SetDeadline(time.Now().Add(5 * time.Minute))
		for {
			var msg []byte
			if err := websocket.Message.Receive(ws, &msg); err != nil {
				return
			}
			if err := websocket.Message.Send(ws, msg); err != nil {
				return
			}
		}
	}})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { echo(w, r, port) })

	server := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			inFlight.Add(1)
			defer inFlight.Add(-1)
			mux.ServeHTTP(w, r)
		}),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       2 * time.Minute,
	}
	ln, err := net.Listen("tcp", ":"+port)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("listening on :%s as %s/%s\n", port, os.Getenv("NAMESPACE"), os.Getenv("POD_NAME"))

	signals := make(chan os.Signal, 1)
	if os.Getenv("IGNORE_SIGTERM") == "1" {
		signal.Ignore(syscall.SIGTERM)
	} else {
		signal.Notify(signals, syscall.SIGTERM, syscall.SIGINT)
	}
	served := make(chan error, 1)
	go func() { served <- server.Serve(ln) }()
	select {
	case err := <-served:
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	case sig := <-signals:
		delay, _ := strconv.Atoi(os.Getenv("SHUTDOWN_DELAY_MS"))
		fmt.Printf("%v: serving %d ms more, then draining %d in-flight requests\n", sig, delay, inFlight.Load())
		time.Sleep(time.Duration(delay) * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := server.Shutdown(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "shutdown:", err)
		os.Exit(1)
	}
	fmt.Println("drained; exiting")
}

func echo(w http.ResponseWriter, r *http.Request, port string) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{
		"served_by": net.JoinHostPort(os.Getenv("POD_IP"), port),
		"pod":       os.Getenv("POD_NAME"),
		"namespace": os.Getenv("NAMESPACE"),
		"node":      os.Getenv("NODE_NAME"),
		"method":    r.Method,
		"path":      r.URL.RequestURI(),
		"host":      r.Host,
		"headers":   r.Header,
	})
}

func envOr(name, fallback string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return fallback
}
