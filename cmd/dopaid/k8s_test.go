package main

import (
	"flag"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// The Kubernetes manifests in deploy/k8s are checked offline (CI has no
// cluster and no network for schemas): every object is decoded strictly
// (unknown or duplicate fields fail) into the Kubernetes API's own Go
// types, and the CloudNativePG resources into the subset of
// postgresql.cnpg.io/v1 below, since its Go module is not available to the
// build. Then the references between objects are checked: probes and
// Services name real container ports, selectors match the pods' labels,
// every Secret, key and volume claim named exists, and every DOPAID_
// variable is one that dopaid reads.

// The subset of CloudNativePG's postgresql.cnpg.io/v1 API the manifests
// use, with its field names (github.com/cloudnative-pg/cloudnative-pg
// api/v1: ClusterSpec, PoolerSpec, ScheduledBackupSpec). A field not listed
// here fails the test: add it here, from CloudNativePG's API reference,
// when a manifest needs it.
type (
	cnpgLocalRef struct {
		Name string `json:"name"`
	}
	cnpgSecretKeyRef struct {
		Name string `json:"name"`
		Key  string `json:"key"`
	}
	cnpgCompression struct {
		Compression string `json:"compression,omitempty"`
	}
	cnpgCluster struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Instances             int    `json:"instances"`
			ImageName             string `json:"imageName,omitempty"`
			PrimaryUpdateStrategy string `json:"primaryUpdateStrategy,omitempty"`
			MinSyncReplicas       int    `json:"minSyncReplicas,omitempty"`
			MaxSyncReplicas       int    `json:"maxSyncReplicas,omitempty"`
			PostgreSQL            *struct {
				Parameters map[string]string `json:"parameters,omitempty"`
			} `json:"postgresql,omitempty"`
			Bootstrap *struct {
				InitDB *struct {
					Database string        `json:"database"`
					Owner    string        `json:"owner"`
					Secret   *cnpgLocalRef `json:"secret,omitempty"`
				} `json:"initdb,omitempty"`
			} `json:"bootstrap,omitempty"`
			Storage *struct {
				Size         string `json:"size"`
				StorageClass string `json:"storageClass,omitempty"`
			} `json:"storage,omitempty"`
			Affinity *struct {
				EnablePodAntiAffinity *bool  `json:"enablePodAntiAffinity,omitempty"`
				PodAntiAffinityType   string `json:"podAntiAffinityType,omitempty"`
				TopologyKey           string `json:"topologyKey,omitempty"`
			} `json:"affinity,omitempty"`
			Monitoring *struct {
				EnablePodMonitor bool `json:"enablePodMonitor,omitempty"`
			} `json:"monitoring,omitempty"`
			Backup *struct {
				RetentionPolicy   string `json:"retentionPolicy,omitempty"`
				BarmanObjectStore *struct {
					DestinationPath string `json:"destinationPath"`
					EndpointURL     string `json:"endpointURL,omitempty"`
					S3Credentials   *struct {
						AccessKeyID     *cnpgSecretKeyRef `json:"accessKeyId,omitempty"`
						SecretAccessKey *cnpgSecretKeyRef `json:"secretAccessKey,omitempty"`
					} `json:"s3Credentials,omitempty"`
					Wal  *cnpgCompression `json:"wal,omitempty"`
					Data *cnpgCompression `json:"data,omitempty"`
				} `json:"barmanObjectStore,omitempty"`
			} `json:"backup,omitempty"`
		} `json:"spec"`
	}
	cnpgPooler struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Cluster   cnpgLocalRef `json:"cluster"`
			Instances *int         `json:"instances,omitempty"`
			Type      string       `json:"type,omitempty"`
			PgBouncer *struct {
				PoolMode   string            `json:"poolMode,omitempty"`
				Parameters map[string]string `json:"parameters,omitempty"`
			} `json:"pgbouncer"`
		} `json:"spec"`
	}
	cnpgScheduledBackup struct {
		metav1.TypeMeta `json:",inline"`
		Metadata        metav1.ObjectMeta `json:"metadata"`
		Spec            struct {
			Schedule             string       `json:"schedule"`
			BackupOwnerReference string       `json:"backupOwnerReference,omitempty"`
			Cluster              cnpgLocalRef `json:"cluster"`
		} `json:"spec"`
	}
)

// kustomization is the subset of kustomize's Kustomization the manifests
// use (kustomize.config.k8s.io/v1beta1), decoded as strictly.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
	SecretGenerator []struct {
		Name     string   `json:"name"`
		Behavior string   `json:"behavior,omitempty"`
		Type     string   `json:"type,omitempty"`
		Files    []string `json:"files,omitempty"`
		Envs     []string `json:"envs,omitempty"`
	} `json:"secretGenerator,omitempty"`
	GeneratorOptions *struct {
		DisableNameSuffixHash bool `json:"disableNameSuffixHash,omitempty"`
	} `json:"generatorOptions,omitempty"`
}

// newObject returns the typed object for a manifest's apiVersion and kind.
func newObject(apiVersion, kind string) (any, bool) {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}, true
	case "batch/v1 Job":
		return &batchv1.Job{}, true
	case "v1 Service":
		return &corev1.Service{}, true
	case "v1 Secret":
		return &corev1.Secret{}, true
	case "v1 PersistentVolumeClaim":
		return &corev1.PersistentVolumeClaim{}, true
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}, true
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}, true
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}, true
	case "postgresql.cnpg.io/v1 Cluster":
		return &cnpgCluster{}, true
	case "postgresql.cnpg.io/v1 Pooler":
		return &cnpgPooler{}, true
	case "postgresql.cnpg.io/v1 ScheduledBackup":
		return &cnpgScheduledBackup{}, true
	}
	return nil, false
}

// manifest is one decoded object.
type manifest struct {
	file, kind, name string
	obj              any
}

// decodeManifests decodes every YAML document of file strictly.
func decodeManifests(t *testing.T, file string) []manifest {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	var out []manifest
	for i, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(b), -1) {
		if strings.TrimSpace(regexp.MustCompile(`(?m)^#.*$`).ReplaceAllString(doc, "")) == "" {
			continue
		}
		var head metav1.TypeMeta
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Errorf("%s #%d: %v", file, i, err)
			continue
		}
		obj, ok := newObject(head.APIVersion, head.Kind)
		if !ok {
			t.Errorf("%s #%d: %s %s is not a kind this test knows", file, i, head.APIVersion, head.Kind)
			continue
		}
		if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
			t.Errorf("%s #%d (%s): %v", file, i, head.Kind, err)
			continue
		}
		var meta struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		yaml.Unmarshal([]byte(doc), &meta)
		if meta.Metadata.Name == "" {
			t.Errorf("%s #%d (%s): no metadata.name", file, i, head.Kind)
		}
		out = append(out, manifest{file: file, kind: head.Kind, name: meta.Metadata.Name, obj: obj})
	}
	return out
}

func readKustomization(t *testing.T, dir string) kustomization {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(b, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s/kustomization.yaml: %s %s, want kustomize.config.k8s.io/v1beta1 Kustomization", dir, k.APIVersion, k.Kind)
	}
	return k
}

func TestKubernetesManifests(t *testing.T) {
	root := filepath.Join("..", "..", "deploy", "k8s")
	base := filepath.Join(root, "base")
	k := readKustomization(t, base)
	files, _ := filepath.Glob(filepath.Join(base, "*.yaml"))
	for _, f := range files {
		if name := filepath.Base(f); name != "kustomization.yaml" && !slices.Contains(k.Resources, name) {
			t.Errorf("base/%s is not listed in base/kustomization.yaml", name)
		}
	}
	var objs []manifest
	for _, r := range k.Resources {
		objs = append(objs, decodeManifests(t, filepath.Join(base, r))...)
	}
	if t.Failed() {
		t.FailNow()
	}
	byKind := map[string][]manifest{}
	seen := map[string]bool{}
	for _, m := range objs {
		if seen[m.kind+"/"+m.name] {
			t.Errorf("%s %s is defined twice", m.kind, m.name)
		}
		seen[m.kind+"/"+m.name] = true
		byKind[m.kind] = append(byKind[m.kind], m)
	}
	one := func(kind string) manifest {
		t.Helper()
		if len(byKind[kind]) != 1 {
			t.Fatalf("want exactly one %s, have %d", kind, len(byKind[kind]))
		}
		return byKind[kind][0]
	}
	dep := one("Deployment").obj.(*appsv1.Deployment)
	job := one("Job").obj.(*batchv1.Job)
	pdb := one("PodDisruptionBudget").obj.(*policyv1.PodDisruptionBudget)
	hpa := one("HorizontalPodAutoscaler").obj.(*autoscalingv2.HorizontalPodAutoscaler)
	np := one("NetworkPolicy").obj.(*networkingv1.NetworkPolicy)
	cluster := one("Cluster").obj.(*cnpgCluster)
	pooler := one("Pooler").obj.(*cnpgPooler)
	backup := one("ScheduledBackup").obj.(*cnpgScheduledBackup)

	secrets := map[string]*corev1.Secret{}
	for _, m := range byKind["Secret"] {
		s := m.obj.(*corev1.Secret)
		secrets[s.Name] = s
		for key, v := range s.StringData {
			if v != "REPLACE_ME" && !(key == "username" && v == "dopaid") {
				t.Errorf("Secret %s key %s holds a value: the base holds placeholders only (REPLACE_ME)", s.Name, key)
			}
		}
		if len(s.Data) > 0 {
			t.Errorf("Secret %s has data: the base holds placeholders only, in stringData", s.Name)
		}
	}
	secretKey := func(where, name, key string) {
		t.Helper()
		s, ok := secrets[name]
		if !ok {
			t.Errorf("%s names Secret %s, which is not defined", where, name)
			return
		}
		if _, ok := s.StringData[key]; key != "" && !ok {
			t.Errorf("%s names key %s of Secret %s, which it lacks", where, key, name)
		}
	}
	claims := map[string]bool{}
	for _, m := range byKind["PersistentVolumeClaim"] {
		claims[m.name] = true
	}

	envNames := configEnvNames()
	// checkPod checks a pod template's references and settings.
	checkPod := func(what string, pod corev1.PodTemplateSpec, wantArgs []string) map[string]int32 {
		t.Helper()
		spec := pod.Spec
		if spec.SecurityContext == nil || spec.SecurityContext.RunAsNonRoot == nil || !*spec.SecurityContext.RunAsNonRoot {
			t.Errorf("%s: pods must run as non-root", what)
		}
		volumes := map[string]corev1.Volume{}
		for _, v := range spec.Volumes {
			volumes[v.Name] = v
			if v.Secret != nil {
				secretKey(what+" volume "+v.Name, v.Secret.SecretName, "")
			}
			if v.PersistentVolumeClaim != nil && !claims[v.PersistentVolumeClaim.ClaimName] {
				t.Errorf("%s volume %s: claim %s is not defined", what, v.Name, v.PersistentVolumeClaim.ClaimName)
			}
		}
		if len(spec.Containers) != 1 {
			t.Fatalf("%s: want one container, have %d", what, len(spec.Containers))
		}
		c := spec.Containers[0]
		if !slices.Equal(c.Args, wantArgs) {
			t.Errorf("%s: args %q, want %q", what, c.Args, wantArgs)
		}
		if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
			t.Errorf("%s: want a read-only root file system", what)
		}
		ports := map[string]int32{}
		for _, p := range c.Ports {
			ports[p.Name] = p.ContainerPort
		}
		defined := map[string]string{}
		for _, e := range c.Env {
			for _, ref := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(e.Value, -1) {
				if _, ok := defined[ref[1]]; !ok {
					t.Errorf("%s: %s uses $(%s), which no earlier variable defines", what, e.Name, ref[1])
				}
			}
			if strings.HasPrefix(e.Name, "DOPAID_") && !envNames[e.Name] {
				t.Errorf("%s sets %s, which dopaid does not read", what, e.Name)
			}
			if e.Name == "DOPAID_DEV" || e.Name == "DOPAID_MASTER_KEY" {
				t.Errorf("%s sets %s: never development mode, and the master key only as a file", what, e.Name)
			}
			if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
				secretKey(what+" "+e.Name, e.ValueFrom.SecretKeyRef.Name, e.ValueFrom.SecretKeyRef.Key)
			}
			defined[e.Name] = e.Value
		}
		for _, vm := range c.VolumeMounts {
			if _, ok := volumes[vm.Name]; !ok {
				t.Errorf("%s mounts volume %s, which the pod lacks", what, vm.Name)
			}
			for _, ref := range regexp.MustCompile(`\$\(([A-Z0-9_]+)\)`).FindAllStringSubmatch(vm.SubPathExpr, -1) {
				if _, ok := defined[ref[1]]; !ok {
					t.Errorf("%s: mount %s uses $(%s), which no variable defines", what, vm.Name, ref[1])
				}
			}
		}
		// The database URL names the pooler or the primary's Service
		// (CloudNativePG's <cluster>-rw).
		if u := defined["DOPAID_DATABASE_URL"]; u == "" {
			t.Errorf("%s: no DOPAID_DATABASE_URL", what)
		} else if host := regexp.MustCompile(`@([^:/]+)`).FindStringSubmatch(u); host == nil || (host[1] != pooler.Metadata.Name && host[1] != cluster.Metadata.Name+"-rw") {
			t.Errorf("%s: DOPAID_DATABASE_URL %q names neither the Pooler %s nor %s-rw", what, u, pooler.Metadata.Name, cluster.Metadata.Name)
		}
		for name, port := range map[string]string{"DOPAID_ADDR": "http", "DOPAID_ADMIN_LISTEN": "admin"} {
			if v, ok := defined[name]; ok {
				_, p, err := net.SplitHostPort(v)
				if err != nil || p != fmt.Sprint(ports[port]) {
					t.Errorf("%s: %s=%s does not listen on the container port %q (%d)", what, name, v, port, ports[port])
				}
			}
		}
		for probe, want := range map[string]struct {
			p    *corev1.Probe
			path string
		}{"readiness": {c.ReadinessProbe, "/readyz"}, "liveness": {c.LivenessProbe, "/healthz"}} {
			if len(ports) == 0 {
				break // the migration Job serves nothing
			}
			if want.p == nil || want.p.HTTPGet == nil {
				t.Errorf("%s: no HTTP %s probe", what, probe)
				continue
			}
			if want.p.HTTPGet.Path != want.path {
				t.Errorf("%s: %s probe on %s, want %s", what, probe, want.p.HTTPGet.Path, want.path)
			}
			if pn := want.p.HTTPGet.Port.String(); ports[pn] == 0 || pn == "admin" {
				t.Errorf("%s: %s probe on port %q, want the main listener's named port", what, probe, pn)
			}
		}
		return ports
	}

	// The server.
	if dep.Spec.Replicas == nil || *dep.Spec.Replicas < 3 {
		t.Fatalf("Deployment replicas = %s, want at least 3", ptrString(dep.Spec.Replicas))
	}
	podLabels := labels.Set(dep.Spec.Template.Labels)
	sel, err := metav1.LabelSelectorAsSelector(dep.Spec.Selector)
	if err != nil || !sel.Matches(podLabels) {
		t.Errorf("Deployment selector does not match its pods' labels: %v", err)
	}
	ports := checkPod("Deployment", dep.Spec.Template, []string{"serve", "--no-migrate"})
	if ports["http"] == 0 || ports["admin"] == 0 {
		t.Errorf("Deployment ports %v, want http and admin", ports)
	}

	// The migration Job: a subcommand that applies migrations and exits.
	if !strings.Contains(usage, "dopaid migrate") {
		t.Errorf("the Job runs 'dopaid migrate', which the usage does not list")
	}
	checkPod("Job", job.Spec.Template, []string{"migrate"})
	if job.Spec.Template.Spec.RestartPolicy == corev1.RestartPolicyAlways {
		t.Errorf("the migration Job's pods restart always: it must exit")
	}

	matches := func(what string, ls *metav1.LabelSelector, set labels.Set) bool {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(ls)
		if err != nil {
			t.Errorf("%s: %v", what, err)
			return false
		}
		return !s.Empty() && s.Matches(set)
	}
	if !matches("PodDisruptionBudget", pdb.Spec.Selector, podLabels) {
		t.Errorf("the PodDisruptionBudget does not select the server's pods")
	}
	if pdb.Spec.MinAvailable == nil || pdb.Spec.MinAvailable.IntValue() < 1 || int32(pdb.Spec.MinAvailable.IntValue()) >= *dep.Spec.Replicas {
		t.Errorf("PodDisruptionBudget minAvailable %v: want at least 1 and fewer than the replicas", pdb.Spec.MinAvailable)
	}
	if ref := hpa.Spec.ScaleTargetRef; ref.Kind != "Deployment" || ref.Name != dep.Name || ref.APIVersion != "apps/v1" {
		t.Errorf("the HorizontalPodAutoscaler scales %+v, want the Deployment %s", ref, dep.Name)
	}
	if hpa.Spec.MinReplicas == nil || *hpa.Spec.MinReplicas < 3 || hpa.Spec.MaxReplicas < *hpa.Spec.MinReplicas {
		t.Errorf("HorizontalPodAutoscaler minReplicas %s, maxReplicas %d: want at least 3", ptrString(hpa.Spec.MinReplicas), hpa.Spec.MaxReplicas)
	}
	for _, m := range byKind["Service"] {
		svc := m.obj.(*corev1.Service)
		if !labels.SelectorFromSet(svc.Spec.Selector).Matches(podLabels) || len(svc.Spec.Selector) == 0 {
			t.Errorf("Service %s does not select the server's pods", svc.Name)
		}
		for _, p := range svc.Spec.Ports {
			if ports[p.TargetPort.String()] == 0 {
				t.Errorf("Service %s targets port %q, which the container does not name", svc.Name, p.TargetPort.String())
			}
		}
	}
	if !matches("NetworkPolicy", &np.Spec.PodSelector, podLabels) || !matches("NetworkPolicy", &np.Spec.PodSelector, labels.Set(job.Spec.Template.Labels)) {
		t.Errorf("the NetworkPolicy does not select both the server's and the migration Job's pods")
	}
	if !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeIngress) || !slices.Contains(np.Spec.PolicyTypes, networkingv1.PolicyTypeEgress) {
		t.Errorf("the NetworkPolicy must restrict both ingress and egress")
	}
	for _, r := range np.Spec.Ingress {
		for _, p := range r.Ports {
			if p.Port == nil || ports[p.Port.String()] == 0 {
				t.Errorf("the NetworkPolicy admits port %v, which the container does not name", p.Port)
			}
		}
	}

	// PostgreSQL.
	if cluster.Spec.Instances != 3 {
		t.Errorf("Cluster instances = %d, want 3", cluster.Spec.Instances)
	}
	if cluster.Spec.MinSyncReplicas < 1 {
		t.Errorf("Cluster without a synchronous standby: a failover could lose committed sign-ins")
	}
	if b := cluster.Spec.Bootstrap; b == nil || b.InitDB == nil || b.InitDB.Secret == nil {
		t.Errorf("Cluster: no bootstrap.initdb.secret")
	} else {
		secretKey("Cluster bootstrap", b.InitDB.Secret.Name, "password")
	}
	if b := cluster.Spec.Backup; b == nil || b.BarmanObjectStore == nil || b.BarmanObjectStore.S3Credentials == nil {
		t.Errorf("Cluster: no backups to an object store")
	} else {
		c := b.BarmanObjectStore.S3Credentials
		for _, ref := range []*cnpgSecretKeyRef{c.AccessKeyID, c.SecretAccessKey} {
			if ref == nil {
				t.Errorf("Cluster backup credentials incomplete")
				continue
			}
			secretKey("Cluster backup", ref.Name, ref.Key)
		}
	}
	if pooler.Spec.Cluster.Name != cluster.Metadata.Name || backup.Spec.Cluster.Name != cluster.Metadata.Name {
		t.Errorf("the Pooler and ScheduledBackup must name the Cluster %s", cluster.Metadata.Name)
	}
	if pooler.Spec.PgBouncer == nil || pooler.Spec.PgBouncer.PoolMode != "session" {
		t.Errorf("the Pooler must pool sessions: dopaid LISTENs for permit changes")
	}

	// The overlay: patches decode into the kinds they patch and name base
	// objects; the secrets it generates replace base Secrets, from files
	// git ignores.
	gitignore := repoFile(t, ".gitignore")
	dockerignore := repoFile(t, ".dockerignore")
	overlays, _ := filepath.Glob(filepath.Join(root, "overlays", "*"))
	if len(overlays) == 0 {
		t.Fatal("no overlay in deploy/k8s/overlays")
	}
	for _, dir := range overlays {
		ov := readKustomization(t, dir)
		if !slices.Contains(ov.Resources, "../../base") {
			t.Errorf("%s does not build on the base", dir)
		}
		for _, p := range ov.Patches {
			for _, m := range decodeManifests(t, filepath.Join(dir, p.Path)) {
				if !seen[m.kind+"/"+m.name] {
					t.Errorf("%s patches %s %s, which the base does not define", p.Path, m.kind, m.name)
				}
			}
		}
		for _, im := range ov.Images {
			if im.Name != dep.Spec.Template.Spec.Containers[0].Image {
				t.Errorf("%s sets image %s, which the base does not use", dir, im.Name)
			}
		}
		for _, g := range ov.SecretGenerator {
			if secrets[g.Name] == nil || g.Behavior != "replace" {
				t.Errorf("%s generates Secret %s: want it to replace a base Secret", dir, g.Name)
			}
			for _, f := range append(slices.Clone(g.Files), g.Envs...) {
				if _, file, ok := strings.Cut(f, "="); ok {
					f = file // key=file
				}
				rel := path.Join("deploy/k8s/overlays", filepath.Base(dir), filepath.ToSlash(f))
				if !ignored(gitignore, rel, true) {
					t.Errorf(".gitignore does not ignore %s (a secret)", rel)
				}
				if !ignored(dockerignore, rel, false) {
					t.Errorf(".dockerignore lets %s (a secret) into the build context", rel)
				}
			}
		}
		if ov.GeneratorOptions == nil || !ov.GeneratorOptions.DisableNameSuffixHash {
			t.Errorf("%s: generated Secrets need their plain names (the Cluster names them)", dir)
		}
	}
}

func ptrString(p *int32) string {
	if p == nil {
		return "unset"
	}
	return fmt.Sprint(*p)
}

// TestComposeReplicas: compose.yaml runs three replicas behind the reverse
// proxy, which spreads requests over all of them, and each replica
// believes the forwarded client address from that proxy alone.
func TestComposeReplicas(t *testing.T) {
	var compose struct {
		Services map[string]struct {
			Command     []string          `json:"command"`
			Environment map[string]string `json:"environment"`
			Networks    any               `json:"networks"`
		} `json:"services"`
	}
	if err := yaml.Unmarshal([]byte(repoFile(t, "deploy/compose.yaml")), &compose); err != nil {
		t.Fatal(err)
	}
	caddy := repoFile(t, "deploy/Caddyfile")
	proxy, ok := compose.Services["proxy"]
	if !ok {
		t.Fatal("compose.yaml has no proxy service")
	}
	nets, _ := proxy.Networks.(map[string]any)
	var proxyIP string
	for _, n := range nets {
		if m, ok := n.(map[string]any); ok {
			proxyIP, _ = m["ipv4_address"].(string)
		}
	}
	if proxyIP == "" {
		t.Fatal("the proxy has no fixed address for the replicas to trust")
	}
	var replicas []string
	for name, s := range compose.Services {
		if !slices.Equal(s.Command, []string{"serve", "--no-migrate"}) {
			continue
		}
		replicas = append(replicas, name)
		var c Config
		env := func(k string) string { return s.Environment[k] }
		c.bindFlags(flag.NewFlagSet(name, flag.ContinueOnError), env, true)
		c.MasterKey = "0000000000000000000000000000000000000000000000000000000000000000"
		if err := c.Validate(true, true); err != nil {
			t.Errorf("%s: %v", name, err)
			continue
		}
		trusted := false
		for _, p := range c.TrustedProxies {
			trusted = trusted || p.Contains(netip.MustParseAddr(proxyIP))
		}
		if !trusted || len(c.TrustedProxies) != 1 || c.TrustedProxies[0].Bits() != 32 {
			t.Errorf("%s trusts %v, want the proxy %s alone", name, c.TrustedProxies, proxyIP)
		}
		if c.ProxyHeader == "" {
			t.Errorf("%s: set DOPAID_PROXY_HEADER to the one header the proxy writes", name)
		}
		if !strings.Contains(caddy, name+":8080") {
			t.Errorf("the Caddyfile does not send requests to %s", name)
		}
	}
	if len(replicas) < 3 {
		t.Errorf("compose.yaml runs %d server replicas (%v), want 3", len(replicas), replicas)
	}
}
