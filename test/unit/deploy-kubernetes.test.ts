/**
 * deploy/kubernetes, checked without a cluster: every object validates against the Kubernetes
 * (1.27) and KEDA schemas that kubernetes-models ships (types, enums, required fields; unknown
 * fields are not refused, so the tests below require each field that matters); the environment
 * the pods get is read by the config module and accepted by it; probes, Services, disruption
 * budgets and scalers point at the ports, paths, pods and queues the code and the other
 * manifests define.
 */
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { celerityProcess, knownVariables, readYaml, unknownVariables, yamlFilesUnder, type Process } from '../helpers/deploy.js';

interface Meta {
  name: string;
  labels?: Record<string, string>;
}
interface K8sObject {
  apiVersion: string;
  kind: string;
  metadata: Meta;
  spec?: Record<string, unknown>;
  data?: Record<string, string>;
  stringData?: Record<string, string>;
  resources?: string[];
}
interface Probe {
  httpGet?: { path: string; port: string | number };
}
interface Container {
  name: string;
  image: string;
  args?: string[];
  envFrom?: { configMapRef?: { name: string }; secretRef?: { name: string } }[];
  env?: { name: string; value?: string }[];
  ports?: { name?: string; containerPort: number }[];
  readinessProbe?: Probe;
  livenessProbe?: Probe;
}
interface PodTemplate {
  metadata: Meta;
  spec: { containers: Container[]; initContainers?: Container[]; terminationGracePeriodSeconds?: number; securityContext?: { runAsNonRoot?: boolean; runAsUser?: number } };
}

const DIR = 'deploy/kubernetes';
const files = yamlFilesUnder(DIR);
const objects = files.flatMap((f) => (readYaml(f) as K8sObject[]).map((o) => ({ file: f, o })));
const manifests = objects.filter(({ o }) => o.kind !== 'Kustomization').map(({ o }) => o);
const of = (kind: string): K8sObject[] => manifests.filter((o) => o.kind === kind);
const named = (kind: string, name: string): K8sObject => of(kind).find((o) => o.metadata.name === name) ?? assert.fail(`no ${kind} ${name}`);

/** Where kubernetes-models keeps each API group's classes. */
function modelModule(apiVersion: string): string {
  if (apiVersion.startsWith('keda.sh/')) return `@kubernetes-models/keda/${apiVersion}`;
  return `kubernetes-models/${apiVersion}`;
}

function template(o: K8sObject): PodTemplate {
  return (o.spec?.template as PodTemplate | undefined) ?? assert.fail(`${o.kind} ${o.metadata.name} has no pod template`);
}

function selects(selector: Record<string, string> | undefined, labels: Record<string, string> | undefined): boolean {
  return selector !== undefined && Object.keys(selector).length > 0 && Object.entries(selector).every(([k, v]) => labels?.[k] === v);
}

/** The environment a container gets from its ConfigMaps, Secrets and own `env`. */
function containerEnv(c: Container): Record<string, string> {
  const env: Record<string, string> = {};
  for (const from of c.envFrom ?? []) {
    if (from.configMapRef) Object.assign(env, named('ConfigMap', from.configMapRef.name).data);
    if (from.secretRef) Object.assign(env, named('Secret', from.secretRef.name).stringData);
  }
  for (const e of c.env ?? []) if (e.value !== undefined) env[e.name] = e.value;
  return env;
}

const workloads = [...of('Deployment'), ...of('Job')].flatMap((o) =>
  template(o)
    .spec.containers.filter((c) => c.image === 'celerity')
    .map((c) => ({ owner: o, container: c, process: celerityProcess(c.args ?? [], containerEnv(c)) })),
);
const initContainers = of('Deployment').flatMap((o) =>
  (template(o).spec.initContainers ?? []).map((c) => ({ owner: o, container: c, process: celerityProcess(c.args ?? [], containerEnv(c)) })),
);
const deploymentsOf = (role: Process['role']): typeof workloads => workloads.filter((w) => w.owner.kind === 'Deployment' && w.process.role === role);

describe('deploy/kubernetes', () => {
  it('kustomization.yaml lists every manifest in the folder', () => {
    const kustomization = objects.find(({ o }) => o.kind === 'Kustomization')?.o;
    assert.ok(kustomization);
    assert.deepEqual(
      [...(kustomization.resources ?? [])].sort(),
      files.filter((f) => !f.endsWith('kustomization.yaml')).map((f) => f.slice(DIR.length + 1)).sort(),
    );
  });

  it('every object validates against its Kubernetes or KEDA schema', async () => {
    for (const o of manifests) {
      const module = (await import(modelModule(o.apiVersion))) as Record<string, new (data: unknown) => { validate(): void }>;
      const Model = module[o.kind];
      assert.ok(Model, `no schema for ${o.apiVersion} ${o.kind}`);
      assert.doesNotThrow(() => new Model(o).validate(), `${o.kind} ${o.metadata.name}`);
    }
    // The validation does refuse a wrong type.
    const { Deployment } = (await import('kubernetes-models/apps/v1')) as unknown as Record<string, new (data: unknown) => { validate(): void }>;
    const broken = structuredClone(named('Deployment', 'celerity-gateway')) as unknown as { spec: { replicas: unknown } };
    broken.spec.replicas = 'two';
    assert.throws(() => new Deployment!(broken).validate());
  });

  it('the pods set only variables the config module reads, and the config module accepts them', () => {
    const known = knownVariables();
    assert.ok(workloads.length >= 4);
    for (const { owner, container } of [...workloads, ...initContainers]) {
      assert.deepEqual(unknownVariables(Object.keys(containerEnv(container)), known), [], `${owner.kind} ${owner.metadata.name}`);
    }
  });

  it('has a gateway Deployment, a Deployment per queue group and a migrate Job', () => {
    assert.equal(deploymentsOf('gateway').length, 1);
    const groups = deploymentsOf('worker').map((w) => (w.process.role === 'worker' ? w.process.config.queues.join(',') : ''));
    assert.ok(new Set(groups).size >= 2, `worker groups: ${groups.join(' | ')}`);
    const jobs = workloads.filter((w) => w.owner.kind === 'Job');
    assert.deepEqual(jobs.map((j) => j.process.role), ['migrate']);
    // Every gateway and worker pod applies the migrations before it starts.
    for (const { owner } of [...deploymentsOf('gateway'), ...deploymentsOf('worker')]) {
      assert.deepEqual(initContainers.filter((i) => i.owner === owner).map((i) => i.process.role), ['migrate'], owner.metadata.name);
    }
  });

  it('probes use /readyz and /healthz on the port the process listens on', () => {
    for (const { owner, container, process } of workloads) {
      if (process.role === 'migrate') continue;
      const port = process.role === 'gateway' ? process.config.port : process.config.metricsPort;
      const host = process.role === 'gateway' ? process.config.host : process.config.metricsHost;
      assert.equal(host, '0.0.0.0', `${owner.metadata.name} listens on the pod IP, where the kubelet probes`);
      const resolvePort = (p: string | number | undefined): number | undefined =>
        typeof p === 'number' ? p : container.ports?.find((cp) => cp.name === p)?.containerPort;
      assert.equal(container.readinessProbe?.httpGet?.path, '/readyz', owner.metadata.name);
      assert.equal(container.livenessProbe?.httpGet?.path, '/healthz', owner.metadata.name);
      assert.equal(resolvePort(container.readinessProbe?.httpGet?.port), port, `${owner.metadata.name} readiness port`);
      assert.equal(resolvePort(container.livenessProbe?.httpGet?.port), port, `${owner.metadata.name} liveness port`);
    }
  });

  it('pods run as the image\'s non-root user; workers get longer than WORKER_GRACE_MS to stop', () => {
    for (const { owner, process } of workloads) {
      const spec = template(owner).spec;
      assert.equal(spec.securityContext?.runAsNonRoot, true, owner.metadata.name);
      assert.equal(spec.securityContext?.runAsUser, 1000, `${owner.metadata.name}: uid of the image's user node`);
      if (process.role === 'worker') assert.ok((spec.terminationGracePeriodSeconds ?? 30) * 1000 > process.config.graceMs, owner.metadata.name);
    }
  });

  it('each gateway and worker Deployment has a Service on its named port and a PodDisruptionBudget', () => {
    for (const { owner, container } of [...deploymentsOf('gateway'), ...deploymentsOf('worker')]) {
      const labels = template(owner).metadata.labels;
      const services = of('Service').filter((s) => selects(s.spec?.selector as Record<string, string>, labels));
      assert.equal(services.length, 1, `Service for ${owner.metadata.name}`);
      for (const port of (services[0]!.spec?.ports as { targetPort: string | number }[]) ?? []) {
        assert.ok(container.ports?.some((p) => p.name === port.targetPort || p.containerPort === port.targetPort), `${owner.metadata.name} port ${port.targetPort}`);
      }
      const budgets = of('PodDisruptionBudget').filter((p) => selects((p.spec?.selector as { matchLabels?: Record<string, string> }).matchLabels, labels));
      assert.equal(budgets.length, 1, `PodDisruptionBudget for ${owner.metadata.name}`);
      assert.ok(selects(((owner.spec?.selector as { matchLabels: Record<string, string> }).matchLabels), labels), 'the Deployment selects its pods');
    }
  });

  it('a KEDA ScaledObject scales each worker Deployment on the depth of a queue it consumes', () => {
    for (const { owner, process } of deploymentsOf('worker')) {
      if (process.role !== 'worker') continue;
      const scalers = of('ScaledObject').filter((s) => (s.spec?.scaleTargetRef as { name: string }).name === owner.metadata.name);
      assert.equal(scalers.length, 1, `ScaledObject for ${owner.metadata.name}`);
      const spec = scalers[0]!.spec as {
        minReplicaCount: number;
        maxReplicaCount: number;
        triggers: { type: string; metadata: { queueName: string; mode: string; value: string }; authenticationRef: { name: string } }[];
      };
      // Never 0 workers: CelerityNoWorkers and CelerityQueueNoConsumers would fire.
      assert.ok(spec.minReplicaCount >= 1 && spec.maxReplicaCount >= spec.minReplicaCount);
      for (const trigger of spec.triggers) {
        assert.equal(trigger.type, 'rabbitmq');
        assert.ok(process.config.queues.includes(trigger.metadata.queueName), `${trigger.metadata.queueName} is consumed by ${owner.metadata.name}`);
        assert.equal(trigger.metadata.mode, 'QueueLength');
        const auth = named('TriggerAuthentication', trigger.authenticationRef.name).spec as { secretTargetRef: { parameter: string; name: string; key: string }[] };
        const host = auth.secretTargetRef.find((r) => r.parameter === 'host');
        assert.ok(host && named('Secret', host.name).stringData?.[host.key], 'the broker URL KEDA reads exists');
      }
    }
  });
});
