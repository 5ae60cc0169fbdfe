package daytona

import (
	"context"
	"errors"
	"time"

	apiclient "github.com/daytonaio/daytona/libs/api-client-go"

	"github.com/sandagent/sandagent"
)

// Attach attaches to the configured sandbox, starting it if needed, or
// creates it. See the package documentation for the reuse rule.
func (s *Sandbox) Attach(ctx context.Context) (*sandagent.Handle, error) {
	return sandagent.RunAttach(ctx, ProviderName, s.tp, s.attach)
}

func (s *Sandbox) attach(ctx context.Context) (*sandagent.Handle, error) {
	if s.id != "" {
		sb, err := s.get(ctx, s.id)
		if err != nil {
			return nil, err
		}
		return s.reconcile(ctx, sb, false)
	}
	if s.name != "" {
		unlock, err := s.locks.Lock(ctx, s.name)
		if err != nil {
			return nil, err
		}
		defer unlock()
	}
	vols, err := s.ensureVolumes(ctx)
	if err != nil {
		return nil, err
	}
	if s.name != "" {
		sb, err := s.get(ctx, s.name)
		switch {
		case err == nil && sb.Name == s.name:
			return s.reconcile(ctx, sb, false)
		case err != nil && !errors.Is(err, sandagent.ErrNotFound):
			return nil, err // fail closed
		}
	}
	return s.create(ctx, vols)
}

func (s *Sandbox) get(ctx context.Context, idOrName string) (*apiclient.Sandbox, error) {
	sb, resp, err := s.api.SandboxAPI.GetSandbox(ctx, idOrName).Execute()
	return sb, s.check("get sandbox", resp, err)
}

// ensureVolumes finds or creates every volume and waits until each is
// ready.
func (s *Sandbox) ensureVolumes(ctx context.Context) ([]apiclient.SandboxVolume, error) {
	out := make([]apiclient.SandboxVolume, 0, len(s.volumes))
	for _, v := range s.volumes {
		vol, resp, err := s.api.VolumesAPI.GetVolumeByName(ctx, v.name).Execute()
		err = s.check("get volume", resp, err)
		if errors.Is(err, sandagent.ErrNotFound) {
			vol, resp, err = s.api.VolumesAPI.CreateVolume(ctx).CreateVolume(*apiclient.NewCreateVolume(v.name)).Execute()
			err = s.check("create volume", resp, err)
			if errors.Is(err, sandagent.ErrInvalid) { // "already exists": another caller created it
				vol, resp, err = s.api.VolumesAPI.GetVolumeByName(ctx, v.name).Execute()
				err = s.check("get volume", resp, err)
			}
		}
		if err != nil {
			return nil, err
		}
		err = s.waitFor(ctx, "volume "+v.name+" ready", func(ctx context.Context) (bool, error) {
			switch vol.State {
			case apiclient.VOLUMESTATE_READY:
				return true, nil
			case apiclient.VOLUMESTATE_ERROR:
				return false, sandagent.Errorf(sandagent.ErrState, "volume %s failed: %s", v.name, vol.GetErrorReason())
			case apiclient.VOLUMESTATE_PENDING_DELETE, apiclient.VOLUMESTATE_DELETING, apiclient.VOLUMESTATE_DELETED:
				return false, sandagent.Errorf(sandagent.ErrState, "volume %s is being deleted (%s)", v.name, vol.State)
			}
			return false, nil
		}, func(ctx context.Context) error {
			vol, resp, err = s.api.VolumesAPI.GetVolumeByName(ctx, v.name).Execute()
			return s.check("get volume", resp, err)
		})
		if err != nil {
			return nil, err
		}
		out = append(out, *apiclient.NewSandboxVolume(vol.Id, v.mountPath))
	}
	return out, nil
}

func (s *Sandbox) createRequest(vols []apiclient.SandboxVolume) apiclient.CreateSandbox {
	labels := map[string]string{sandagent.ManagedLabel: "true", LabelLanguage: s.language}
	if s.name != "" {
		labels[sandagent.NameLabel] = s.name
	}
	for k, v := range s.labels {
		labels[k] = v
	}
	env := map[string]string{}
	for k, v := range s.env {
		env[k] = v
	}
	req := apiclient.CreateSandbox{Env: &env, Labels: &labels, Public: &s.public, NetworkBlockAll: &s.blockAll, Volumes: vols}
	i32 := func(n int) *int32 { v := int32(n); return &v }
	req.AutoStopInterval = i32(s.autoStop)
	if s.autoArchive != nil {
		req.AutoArchiveInterval = i32(*s.autoArchive)
	}
	if s.autoDelete != nil {
		req.AutoDeleteInterval = i32(*s.autoDelete)
	}
	if s.name != "" {
		req.Name = &s.name
	}
	if s.target != "" {
		req.Target = &s.target
	}
	if s.allowList != "" {
		req.NetworkAllowList = &s.allowList
	}
	if s.snapshot != "" {
		req.Snapshot = &s.snapshot
	}
	if s.image != "" {
		req.BuildInfo = apiclient.NewCreateBuildInfo("FROM " + s.image + "\n")
		for _, r := range []struct {
			n   int
			dst **int32
		}{{s.res.CPU, &req.Cpu}, {s.res.Memory, &req.Memory}, {s.res.Disk, &req.Disk}, {s.res.GPU, &req.Gpu}} {
			if r.n > 0 {
				*r.dst = i32(r.n)
			}
		}
	}
	return req
}

func (s *Sandbox) create(ctx context.Context, vols []apiclient.SandboxVolume) (*sandagent.Handle, error) {
	sb, resp, err := s.api.SandboxAPI.CreateSandbox(ctx).CreateSandbox(s.createRequest(vols)).Execute()
	err = s.check("create sandbox", resp, err)
	var se *sandagent.Error
	switch {
	case err == nil:
	case errors.Is(err, sandagent.ErrConflict) && s.name != "":
		// Another caller created the name first: adopt theirs.
		sb, err = s.get(ctx, s.name)
		if err != nil {
			return nil, err
		}
		return s.reconcile(ctx, sb, false)
	case s.name != "" && errors.As(err, &se) && se.Status == 0 && ctx.Err() == nil:
		// No answer: the create may have happened. Look before failing.
		if found, gerr := s.get(ctx, s.name); gerr == nil && found.Labels[sandagent.ManagedLabel] == "true" {
			sb = found
			break
		}
		return nil, err
	default:
		return nil, err
	}
	h, err := s.reconcile(ctx, sb, true)
	if err == nil {
		err = ctx.Err()
	}
	if err != nil {
		// A caller that gave up owns nothing: delete what this Attach made.
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 30*time.Second)
		defer cancel()
		_, resp, derr := s.api.SandboxAPI.DeleteSandbox(dctx, sb.Id).Execute()
		if derr = s.check("delete sandbox", resp, derr); derr != nil && s.logger != nil {
			s.logger.Warn("sandagent: could not delete the sandbox a failed attach created", "provider", ProviderName, "sandbox", sb.Id, "err", derr)
		}
		return nil, err
	}
	return h, nil
}

// reconcile brings sb to started, following the reuse rule, and returns its
// Handle.
func (s *Sandbox) reconcile(ctx context.Context, sb *apiclient.Sandbox, created bool) (*sandagent.Handle, error) {
	outcome := sandagent.Reused
	if created {
		outcome = sandagent.Created
	}
	first := true
	err := s.waitFor(ctx, "sandbox "+sb.Id+" started", func(ctx context.Context) (bool, error) {
		st := sb.GetState()
		wasFirst := first
		first = false
		switch st {
		case apiclient.SANDBOXSTATE_STARTED:
			return true, nil
		case apiclient.SANDBOXSTATE_STOPPED, apiclient.SANDBOXSTATE_ARCHIVED, apiclient.SANDBOXSTATE_PAUSED:
			if !created {
				outcome = sandagent.Started
				if st == apiclient.SANDBOXSTATE_PAUSED {
					outcome = sandagent.Resumed
				}
			}
			next, resp, err := s.api.SandboxAPI.StartSandbox(ctx, sb.Id).Execute()
			if err = s.check("start sandbox", resp, err); err != nil {
				return false, err
			}
			*sb = *next
			return sb.GetState() == apiclient.SANDBOXSTATE_STARTED, nil
		case apiclient.SANDBOXSTATE_STOPPING, apiclient.SANDBOXSTATE_ARCHIVING, apiclient.SANDBOXSTATE_STARTING,
			apiclient.SANDBOXSTATE_RESTORING, apiclient.SANDBOXSTATE_RESUMING, apiclient.SANDBOXSTATE_PAUSING:
			if wasFirst && !created {
				outcome = sandagent.Started
				if st == apiclient.SANDBOXSTATE_RESUMING || st == apiclient.SANDBOXSTATE_PAUSING {
					outcome = sandagent.Resumed
				}
			}
			return false, nil
		case apiclient.SANDBOXSTATE_ERROR:
			if !sb.GetRecoverable() {
				return false, sandagent.Errorf(sandagent.ErrState, "sandbox %s is in state error: %s", sb.Id, sb.GetErrorReason())
			}
			if !created {
				outcome = sandagent.Started
			}
			next, resp, err := s.api.SandboxAPI.RecoverSandbox(ctx, sb.Id).Execute()
			if err = s.check("recover sandbox", resp, err); err != nil {
				return false, err
			}
			*sb = *next
			return sb.GetState() == apiclient.SANDBOXSTATE_STARTED, nil
		case apiclient.SANDBOXSTATE_BUILD_FAILED:
			return false, sandagent.Errorf(sandagent.ErrState, "sandbox %s is in state build_failed: %s", sb.Id, sb.GetErrorReason())
		case apiclient.SANDBOXSTATE_DESTROYED, apiclient.SANDBOXSTATE_DESTROYING:
			return false, sandagent.Errorf(sandagent.ErrNotFound, "sandbox %s is %s", sb.Id, st)
		}
		return false, nil // creating, pending_build, pulling_snapshot, resizing, ...: wait
	}, func(ctx context.Context) error {
		next, err := s.get(ctx, sb.Id)
		if err == nil {
			*sb = *next
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return s.handle(sb, outcome), nil
}

// waitFor calls done until it reports true, calling refresh between calls
// with a growing pause; it ends with ctx or after the wait timeout.
func (s *Sandbox) waitFor(ctx context.Context, what string, done func(context.Context) (bool, error), refresh func(context.Context) error) error {
	ctx, cancel := context.WithTimeoutCause(ctx, s.waitTimeout, errWaitTimeout)
	defer cancel()
	pause := s.pollMin
	for {
		ok, err := done(ctx)
		if err == nil && !ok {
			t := time.NewTimer(pause)
			select {
			case <-t.C:
				pause = min(pause*3/2, s.pollMax)
				err = refresh(ctx)
				if err == nil {
					continue
				}
			case <-ctx.Done():
				t.Stop()
				err = ctx.Err()
			}
		}
		if context.Cause(ctx) == errWaitTimeout {
			return sandagent.Errorf(sandagent.ErrTimeout, "waiting for %s: no result within %s", what, s.waitTimeout)
		}
		return err
	}
}

var errWaitTimeout = errors.New("wait timeout")

func (s *Sandbox) handle(sb *apiclient.Sandbox, outcome sandagent.Outcome) *sandagent.Handle {
	h := newHandle(s, sb)
	var vols []sandagent.Volume
	for _, v := range sb.Volumes {
		name := v.VolumeId
		for _, spec := range s.volumes {
			if spec.mountPath == v.MountPath {
				name = spec.name
			}
		}
		vols = append(vols, sandagent.Volume{Name: name, MountPath: v.MountPath})
	}
	return sandagent.NewHandle(h, sandagent.Attachment{
		Provider:      ProviderName,
		ID:            sb.Id,
		Name:          sb.Name,
		LookupWorkdir: h.workdir,
		Volumes:       vols,
		Outcome:       outcome,
		Logger:        s.logger,
	})
}

// sandboxState maps Daytona's states onto sandagent's.
func sandboxState(st apiclient.SandboxState) sandagent.State {
	switch st {
	case apiclient.SANDBOXSTATE_STARTED:
		return sandagent.StateRunning
	case apiclient.SANDBOXSTATE_STOPPED, apiclient.SANDBOXSTATE_STOPPING:
		return sandagent.StateStopped
	case apiclient.SANDBOXSTATE_ARCHIVED, apiclient.SANDBOXSTATE_ARCHIVING:
		return sandagent.StateArchived
	case apiclient.SANDBOXSTATE_PAUSED, apiclient.SANDBOXSTATE_PAUSING:
		return sandagent.StatePaused
	case apiclient.SANDBOXSTATE_ERROR, apiclient.SANDBOXSTATE_BUILD_FAILED:
		return sandagent.StateError
	case apiclient.SANDBOXSTATE_DESTROYED, apiclient.SANDBOXSTATE_DESTROYING:
		return sandagent.StateDestroyed
	}
	return sandagent.StateStarting
}
