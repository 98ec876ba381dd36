package main

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/dopaid/dopaid/storage"
)

// loopbackRanges are the network ranges of a system on this machine: the
// development and test clients that authenticate with a client secret,
// which clause 10 requires to name their ranges.
var loopbackRanges = []string{"127.0.0.0/8", "::1/128"}

// devAgency describes an agency and permit that development mode (and the
// tests) create directly in the store, without the administrator
// workflow: an approved permit, valid for ten years, with its supervisor.
type devAgency struct {
	ID, NameTH, NameEN, Category string
	Purposes                     []storage.Purpose
}

// demoAgency is the agency of the demo application.
var demoAgency = devAgency{
	ID:       "demo-agency",
	NameTH:   "สำนักงานทดลองระบบ (สาธิต)",
	NameEN:   "Demonstration Office (demo)",
	Category: storage.CategoryGovernmentDepartment,
	Purposes: []storage.Purpose{
		{Code: "demo", DescriptionTH: "ทดลองเข้าสู่ระบบด้วย DOPA-Digital ID", DescriptionEN: "Trying out sign-in with DOPA-Digital ID", Claims: storage.ClaimNames},
	},
}

// ensurePermit creates the agency, an application and an approved permit
// if they do not exist yet, and returns the permit. The permit's ID is
// "permit-"+agency ID.
func (m *Main) ensurePermit(ctx context.Context, a devAgency) (storage.Permit, error) {
	ps := m.Store
	permitID := "permit-" + a.ID
	if p, err := ps.Permit(ctx, permitID); err == nil {
		return p, nil
	} else if !errors.Is(err, storage.ErrNotFound) {
		return storage.Permit{}, err
	}
	now := time.Now().UTC()
	err := ps.CreateAgency(ctx, storage.Agency{ID: a.ID, NameTH: a.NameTH, NameEN: a.NameEN, Category: a.Category,
		Contacts: []storage.Contact{{Name: "Demo contact", Position: "IT officer", Email: "it@example.go.th"}}, CreatedAt: now, UpdatedAt: now}, nil)

	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return storage.Permit{}, fmt.Errorf("create agency: %w", err)
	}
	appID := "application-" + a.ID
	err = ps.CreateApplication(ctx, storage.Application{ID: appID, AgencyID: a.ID,
		Mission: "Demonstration", Reason: "Trying the provider", Necessity: "Development only",
		Purposes: a.Purposes, RecordedBy: "system", CreatedAt: now,
		Acceptance: storage.Acceptance{Name: "Demo contact", Position: "IT officer", At: now, TermsVersion: "dev"}}, nil)

	if err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return storage.Permit{}, fmt.Errorf("create application: %w", err)
	}
	p := storage.Permit{ID: permitID, Number: "DEV-" + a.ID, AgencyID: a.ID, ApplicationID: appID,
		State: storage.PermitApproved, ValidFrom: now.Add(-time.Minute), ValidUntil: now.AddDate(10, 0, 0),
		Purposes: a.Purposes, Conditions: "development data",
		Supervisors: []storage.Supervisor{{Name: "Demo supervisor", Position: "Director", Email: "supervisor@example.go.th", OrderRef: "dev"}},
		Version:     1, CreatedAt: now, UpdatedAt: now}
	if err := ps.CreatePermit(ctx, p); err != nil && !errors.Is(err, storage.ErrAlreadyExists) {
		return storage.Permit{}, fmt.Errorf("create permit: %w", err)
	}
	return ps.Permit(ctx, permitID)
}
