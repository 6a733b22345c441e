package shim

import (
	"slices"
	"testing"

	"stack/engine/container"
)

func TestShouldRestart(t *testing.T) {
	tests := []struct {
		policy container.RestartPolicy
		code   int
		count  int
		manual bool
		want   bool
	}{
		{container.RestartPolicy{Name: "no"}, 1, 0, false, false},
		{container.RestartPolicy{Name: ""}, 1, 0, false, false},
		{container.RestartPolicy{Name: "always"}, 0, 5, false, true},
		{container.RestartPolicy{Name: "always"}, 1, 0, true, false},
		{container.RestartPolicy{Name: "unless-stopped"}, 0, 0, false, true},
		{container.RestartPolicy{Name: "unless-stopped"}, 0, 0, true, false},
		{container.RestartPolicy{Name: "on-failure"}, 0, 0, false, false},
		{container.RestartPolicy{Name: "on-failure"}, 2, 100, false, true},
		{container.RestartPolicy{Name: "on-failure", MaxRetries: 3}, 2, 2, false, true},
		{container.RestartPolicy{Name: "on-failure", MaxRetries: 3}, 2, 3, false, false},
		{container.RestartPolicy{Name: "on-failure", MaxRetries: 3}, 2, 0, true, false},
	}
	for _, tt := range tests {
		if got := shouldRestart(tt.policy, tt.code, tt.count, tt.manual); got != tt.want {
			t.Errorf("shouldRestart(%+v, code %d, count %d, manual %v) = %v, want %v", tt.policy, tt.code, tt.count, tt.manual, got, tt.want)
		}
	}
}

func TestApplyProbe(t *testing.T) {
	ok := container.HealthProbe{ExitCode: 0}
	fail := container.HealthProbe{ExitCode: 1, Output: "nope"}
	h := &container.Health{Status: container.HealthStarting}
	// Failures within the start period do not count.
	for i := 0; i < 5; i++ {
		applyProbe(h, fail, true, 3)
	}
	if h.Status != container.HealthStarting || h.FailingStreak != 0 || len(h.Log) != maxProbeLog {
		t.Fatalf("after failures in the start period: %+v", h)
	}
	applyProbe(h, ok, true, 3)
	if h.Status != container.HealthHealthy {
		t.Fatalf("a success in the start period: %s, want healthy", h.Status)
	}
	applyProbe(h, fail, false, 3)
	applyProbe(h, fail, false, 3)
	if h.Status != container.HealthHealthy || h.FailingStreak != 2 {
		t.Fatalf("two failures of three allowed: %s streak %d", h.Status, h.FailingStreak)
	}
	applyProbe(h, fail, false, 3)
	if h.Status != container.HealthUnhealthy {
		t.Fatalf("three failures: %s, want unhealthy", h.Status)
	}
	applyProbe(h, ok, false, 3)
	if h.Status != container.HealthHealthy || h.FailingStreak != 0 {
		t.Fatalf("recovery: %s streak %d", h.Status, h.FailingStreak)
	}
	// Once healthy, failures count even inside the start period.
	h = &container.Health{Status: container.HealthHealthy}
	applyProbe(h, fail, true, 1)
	if h.Status != container.HealthUnhealthy {
		t.Fatalf("failure after healthy in the start period: %s", h.Status)
	}
}

func TestShimEnv(t *testing.T) {
	got := shimEnv([]string{"PATH=/bin", "GOMAXPROCS=8", "STACK_DEBUG=1"})
	want := []string{"PATH=/bin", "STACK_DEBUG=1", "GOMAXPROCS=1"}
	if !slices.Equal(got, want) {
		t.Fatalf("shimEnv = %q, want %q", got, want)
	}
}
