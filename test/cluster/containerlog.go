package main

import (
	"bufio"
	"os"
	"path/filepath"
	"sync"
	"time"
)

// logSink captures one container process's stdout and stderr: as they came to
// CONTAINER.log, and one entry per line with the time it was read and its stream to
// CONTAINER.log.cri in the CRI log format (`RFC3339NANO STREAM F|P LINE`), which the
// kubelet API's /containerLogs reads (kubectl logs, sinceTime, timestamps).
type logSink struct {
	mu       sync.Mutex
	raw, cri *os.File
	writers  []*os.File // the child's ends, closed in this process once it started
	readers  []*os.File
	done     sync.WaitGroup
}

func openLogSink(podDir, container string) (*logSink, error) {
	raw, err := os.OpenFile(filepath.Join(podDir, container+".log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cri, err := os.OpenFile(filepath.Join(podDir, container+".log.cri"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		raw.Close()
		return nil, err
	}
	return &logSink{raw: raw, cri: cri}, nil
}

// pipe returns the write end to give the process as stream ("stdout" or "stderr").
func (s *logSink) pipe(stream string) (*os.File, error) {
	r, w, err := os.Pipe()
	if err != nil {
		return nil, err
	}
	s.writers = append(s.writers, w)
	s.readers = append(s.readers, r)
	s.done.Add(1)
	go s.copy(r, stream)
	return w, nil
}

func (s *logSink) copy(r *os.File, stream string) {
	defer s.done.Done()
	reader := bufio.NewReaderSize(r, 16<<10)
	for {
		line, err := reader.ReadSlice('\n')
		if len(line) > 0 {
			tag := "F"
			text := line
			if line[len(line)-1] == '\n' {
				text = line[:len(line)-1]
			} else if err == bufio.ErrBufferFull {
				tag = "P" // a long line continues in the next entry
			}
			s.mu.Lock()
			_, _ = s.raw.Write(line)
			_, _ = s.cri.Write([]byte(time.Now().UTC().Format(time.RFC3339Nano) + " " + stream + " " + tag + " "))
			_, _ = s.cri.Write(append(append([]byte{}, text...), '\n'))
			s.mu.Unlock()
		}
		if err != nil && err != bufio.ErrBufferFull {
			return // io.EOF: the process and its children closed the stream
		}
	}
}

// started closes this process's copies of the write ends (the child holds its own).
func (s *logSink) started() {
	for _, w := range s.writers {
		w.Close()
	}
	s.writers = nil
}

// close waits (at most grace) for the output still in the pipes, then closes everything.
// A process that left a child holding its stdout does not hold the kubelet up.
func (s *logSink) close(grace time.Duration) {
	s.started()
	finished := make(chan struct{})
	go func() {
		s.done.Wait()
		close(finished)
	}()
	select {
	case <-finished:
	case <-time.After(grace):
		for _, r := range s.readers {
			r.Close()
		}
		<-finished
	}
	for _, r := range s.readers {
		r.Close()
	}
	s.raw.Close()
	s.cri.Close()
}
