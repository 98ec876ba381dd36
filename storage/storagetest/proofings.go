package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// newFace returns a face result with every field set; the scores have no
// short decimal form, so that a backend rounding them fails.
func newFace() *storage.FaceResult {
	return &storage.FaceResult{
		Vendor:        "simulator",
		ModelVersion:  "sim-1.0.3",
		Score:         0.1 + 0.2, // 0.30000000000000004
		Threshold:     2.0 / 3,
		Match:         true,
		Liveness:      "bona_fide",
		LivenessScore: 97.123456789012345,
		Simulated:     true,
		At:            at(time.Minute),
	}
}

// newProofing returns an IAL 2.3 proofing of the citizen made at created.
func newProofing(id, citizenID string, created time.Time) storage.Proofing {
	return storage.Proofing{
		ID:        id,
		CitizenID: citizenID,
		IAL:       "2.3",
		Matched:   []string{"pid", "name_th", "birthdate", "laser_code"},
		Face:      newFace(),
		CreatedAt: created,
	}
}

func testProofings(t *testing.T, su suite) {
	ctx := context.Background()

	t.Run("round trip", func(t *testing.T) {
		registryOnly := newProofing("registry-only", "citizen-1", base)
		registryOnly.IAL = "1.3"
		registryOnly.Face = nil
		rejected := newProofing("rejected", "citizen-1", base)
		rejected.Face.Match = false
		rejected.Face.Score = 0
		rejected.Face.Liveness = "attack"
		rejected.Face.LivenessScore = -1.5
		rejected.Face.Simulated = false
		notAssessed := newProofing("not-assessed", "citizen-1", base)
		notAssessed.Face = &storage.FaceResult{Vendor: "v", Score: 81, Threshold: 80, Match: true}
		tests := []struct {
			name string
			p    storage.Proofing
		}{
			{"every field", newProofing("full", "citizen-1", base)},
			{"registry only", registryOnly},
			{"face rejected", rejected},
			{"liveness not assessed", notAssessed},
			{"minimal", storage.Proofing{ID: "minimal", CitizenID: "citizen-1"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedCitizens(t, s, 1)
				wantErr(t, "CreateProofing", s.CreateProofing(ctx, tt.p, nil), nil)
				got, err := s.LatestProofing(ctx, "citizen-1")
				wantErr(t, "LatestProofing", err, nil)
				check(t, "LatestProofing", got, tt.p, normProofing)
			})
		}
	})

	t.Run("latest", func(t *testing.T) {
		// Created out of order: the latest CreatedAt wins, not the last insert.
		ps := []storage.Proofing{
			newProofing("p-2", "citizen-1", at(2*time.Hour)),
			newProofing("p-3", "citizen-1", at(3*time.Hour)),
			newProofing("p-1", "citizen-1", at(time.Hour)),
			newProofing("q-1", "citizen-2", at(4*time.Hour)),
		}
		ps[1].IAL = "1.3"
		tests := []struct {
			name    string
			citizen string
			want    string // ID; "" for ErrNotFound
		}{
			{"newest of three", "citizen-1", "p-3"},
			{"only one", "citizen-2", "q-1"},
			{"none", "citizen-3", ""},
			{"unknown citizen", "citizen-9", ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				s := su.store(t)
				seedCitizens(t, s, 1, 2, 3)
				for _, p := range ps {
					wantErr(t, "CreateProofing("+p.ID+")", s.CreateProofing(ctx, p, nil), nil)
				}
				got, err := s.LatestProofing(ctx, tt.citizen)
				if tt.want == "" {
					wantErr(t, "LatestProofing", err, storage.ErrNotFound)
					return
				}
				wantErr(t, "LatestProofing", err, nil)
				for _, p := range ps {
					if p.ID == tt.want {
						check(t, "LatestProofing", got, p, normProofing)
					}
				}
			})
		}
	})

	t.Run("duplicate ID", func(t *testing.T) {
		s := su.store(t)
		seedCitizens(t, s, 1)
		first := newProofing("p", "citizen-1", base)
		wantErr(t, "CreateProofing", s.CreateProofing(ctx, first, nil), nil)
		again := newProofing("p", "citizen-1", at(time.Hour))
		again.IAL = "1.3"
		wantErr(t, "CreateProofing again", s.CreateProofing(ctx, again, nil), storage.ErrAlreadyExists)
		got, err := s.LatestProofing(ctx, "citizen-1")
		wantErr(t, "LatestProofing", err, nil)
		check(t, "LatestProofing", got, first, normProofing)
	})
}
