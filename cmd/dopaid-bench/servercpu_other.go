//go:build !linux

package main

import "time"

// processCPU is unknown here (no /proc).
func processCPU(int) time.Duration { return 0 }

// listeningPID is unknown here (no /proc).
func listeningPID(string) int { return 0 }
