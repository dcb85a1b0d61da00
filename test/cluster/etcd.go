package main

import (
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"
)

// embeddedEtcd is the running etcd plus the level of its logger, which stop turns down:
// etcd's Close logs every closed listener as an error with a stack trace.
type embeddedEtcd struct {
	*embed.Etcd
	level zap.AtomicLevel
}

// stop closes etcd quietly and waits for it.
func (e *embeddedEtcd) stop() {
	e.level.SetLevel(zapcore.FatalLevel)
	e.Close()
}

// startEtcd runs a single-member etcd inside this process with its data under dir/etcd,
// listening on loopback only, on ports the kernel picks. It returns the running server and
// the client URL to hand to kube-apiserver. The data survives a restart on the same dir.
func startEtcd(dir string) (*embeddedEtcd, string, error) {
	dataDir := filepath.Join(dir, "etcd")
	if err := os.MkdirAll(dataDir, 0o700); err != nil {
		return nil, "", err
	}
	// Port 0: nothing connects to the advertised URLs of a single member, and the
	// apiserver is given the address actually bound (read back below).
	loopback := url.URL{Scheme: "http", Host: "127.0.0.1:0"}

	cfg := embed.NewConfig()
	cfg.Name = "portico-testcluster"
	cfg.Dir = dataDir
	cfg.ListenClientUrls = []url.URL{loopback}
	cfg.AdvertiseClientUrls = []url.URL{loopback}
	cfg.ListenPeerUrls = []url.URL{loopback}
	cfg.AdvertisePeerUrls = []url.URL{loopback}
	cfg.InitialCluster = cfg.InitialClusterFromName(cfg.Name)
	// The JSON gateway would dial the listen URL as written (port 0); the apiserver
	// speaks gRPC only.
	cfg.EnableGRPCGateway = false
	level := zap.NewAtomicLevelAt(zapcore.ErrorLevel)
	logger := zap.New(zapcore.NewCore(
		zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.Lock(os.Stderr), level,
	)).Named("etcd")
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(logger)
	// A process kill leaves written data in the page cache, so restart tests still see it;
	// only a machine crash could lose it, which a test cluster does not care about.
	cfg.UnsafeNoFsync = true
	// Fewer raft entries kept in memory between snapshots: keeps RSS down.
	cfg.SnapshotCount = 5000
	// Small test data: compact often so the bbolt file stays small.
	cfg.AutoCompactionMode = "periodic"
	cfg.AutoCompactionRetention = "5m"

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, "", fmt.Errorf("etcd failed: %w", err)
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", fmt.Errorf("etcd was not ready within 60s")
	}
	if len(e.Clients) == 0 {
		e.Close()
		return nil, "", fmt.Errorf("etcd has no client listener")
	}
	return &embeddedEtcd{Etcd: e, level: level}, "http://" + e.Clients[0].Addr().String(), nil
}
