// Site config: the operator's policy. Users cannot override it from a spec.
import * as z from 'zod/mini';
import { described, matching, optional, withDefault } from '../zod';
import { TIME, SLURM_WORD } from '../jobspec/schema';

// Built on first use (and once): with no site file there is nothing to check, and building the
// schema is a twentieth of a cold `tre-job render`.
function buildSiteSchema() {
  const string = (pattern: RegExp, message: string) => matching(z.string(), pattern, message);
  // Functions where several fields use the same kind of value: described() needs one schema each.
  const absolutePath = () => string(/^\/[^\0\n:,]*$/, "must be an absolute path without ':' or ','");
  const command = () => string(/^[A-Za-z0-9_./+-]+$/, 'must be a command name or path (letters, digits, _ . / + -)');
  const host = () => string(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, 'must be a registry host name, optionally with :PORT');
  const flag = string(/^-{1,2}[A-Za-z0-9][A-Za-z0-9-]*$/, 'must be a flag such as --workdir');
  const port = z.int().check(z.minimum(1024), z.maximum(65535));
  const seconds = (min: number, max: number) => z.int().check(z.minimum(min), z.maximum(max));
  const list = <T extends z.ZodMiniType>(item: T) => z._default(z.array(item), []);

  const registrySchema = z.strictObject({
    host: described(host(), 'Host as users write it in image URLs.'),
    pullHost: optional(host(), 'Host to pull from, when it differs (e.g. git.ecdf.ed.ac.uk:5050).'),
    insecure: withDefault(z.boolean(), false, 'Plain HTTP, no TLS verification. Only allowed for loopback test registries.'),
  });

  return described(
    z.strictObject({
      registries: described(z.array(registrySchema).check(z.minLength(1)), 'Registries images may come from.'),
      safeDataRoot: described(absolutePath(), 'Root of the project data directories. Default: /safe_data.'),
      projectGroupPrefix: described(
        string(/^[A-Za-z0-9_.]*$/, 'must be letters, digits, _ and . only'),
        "A user's project X is a group named X or PREFIX-X. Empty: any PREFIX. Default: empty.",
      ),
      defaultRuntime: described(z.enum(['podman', 'apptainer']), 'Runtime when the spec names none. Default: podman.'),
      maxTime: described(string(TIME, 'must be HH:MM:SS'), 'Longest wall time a job may ask for, and the default. Default: 06:00:00.'),
      podman: described(command(), 'Podman command. Default: podman.'),
      apptainer: described(command(), 'Apptainer command. Default: apptainer.'),
      sbatch: described(command(), 'sbatch command. Default: sbatch.'),
      scontrol: described(command(), 'scontrol command. Default: scontrol.'),
      scancel: described(command(), 'scancel command. Default: scancel.'),
      maxCpus: optional(z.int().check(z.minimum(1), z.maximum(4096)), 'Most CPUs a job may ask for. Unset: no site limit (the partition\'s).'),
      maxMemoryGiB: optional(z.int().check(z.minimum(1), z.maximum(65536)), 'Most memory (GiB) a job may ask for. Unset: no site limit (the partition\'s).'),
      maxArrayTasks: described(
        z.int().check(z.minimum(1), z.maximum(100000)),
        "Most tasks an array job may have (keep it within Slurm's MaxArraySize). Default: 1000.",
      ),
      partition: optional(string(SLURM_WORD, 'must be letters, digits and . _ - only'), 'Default partition.'),
      signalGraceSeconds: described(
        seconds(10, 3600),
        'Seconds before the time limit at which the job cleans up (sbatch --signal=B:USR1@N). Default: 60.',
      ),
      gpuGres: optional(string(/^[A-Za-z0-9:_.-]+$/, 'must look like gpu:1'), 'sbatch --gres value for a GPU job, e.g. gpu:1. Unset: this site has no GPUs.'),
      runnerArgs: described(
        z.strictObject({
          mode: described(z.enum(['deny', 'allow']), 'deny: any flag but the built-in privilege list and `deny`; allow: only the flags in `allow`.'),
          allow: list(flag),
          deny: list(flag),
        }),
        'What users may add as runner arguments. Default: mode deny, nothing extra denied.',
      ),
      forcedRunnerArgs: described(
        z.strictObject({ podman: list(z.string()), apptainer: list(z.string()) }),
        'Flags the site adds after the user runner arguments, so the user cannot override them.',
      ),
      forcedMounts: described(
        z.array(z.strictObject({ source: absolutePath(), target: absolutePath(), readOnly: z._default(z.boolean(), true) })),
        'Mounts the site adds to every container (read-only by default); users cannot mount over them.',
      ),
      serviceTimeoutSeconds: described(seconds(5, 3600), 'How long an interactive service may take to answer HTTP before the job gives up. Default: 180.'),
      servicePorts: described(z.strictObject({ min: port, max: port }), 'Ports an interactive service may listen on. Default: 20000-60999.'),
      summaryJson: described(
        z.boolean(),
        'End output.log with the summary as one JSON line too (tre-job-summary {...}), for job cards or monitoring. Default: false.',
      ),
      jobsDir: described(string(/^[^\0\n:,]+$/, 'must be a path'), 'Where submit puts job directories; relative paths are under $HOME. Default: tre-jobs.'),
      home: described(
        z.union([
          z.literal('shared'),
          z.strictObject({
            ssh: described(
              string(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, 'must be a host name (letters, digits, . and -)'),
              "The back-end host submit copies the job directory to, over ssh as the user, with the user's key.",
            ),
          }),
        ], { error: 'must be shared, or {ssh: HOST} for a back-end whose home is its own' }),
        "Whether this back-end's home directory is the one tre-job runs in (shared), or its own, reached over ssh ({ssh: HOST}). Default: shared.",
      ),
    }),
    'tre-job site configuration (YAML).',
  );
}

let siteSchemaBuilt: ReturnType<typeof buildSiteSchema> | undefined;

export function siteSchema(): ReturnType<typeof buildSiteSchema> {
  siteSchemaBuilt ??= buildSiteSchema();
  return siteSchemaBuilt;
}

export type Site = z.output<ReturnType<typeof buildSiteSchema>>;

export const BUILT_IN_SITE: Site = {
  registries: [
    { host: 'ghcr.io', insecure: false },
    { host: 'git.ecdf.ed.ac.uk', pullHost: 'git.ecdf.ed.ac.uk:5050', insecure: false },
  ],
  safeDataRoot: '/safe_data',
  projectGroupPrefix: '',
  defaultRuntime: 'podman',
  maxTime: '06:00:00',
  podman: 'podman',
  apptainer: 'apptainer',
  sbatch: 'sbatch',
  scontrol: 'scontrol',
  scancel: 'scancel',
  signalGraceSeconds: 60,
  maxArrayTasks: 1000,
  runnerArgs: { mode: 'deny', allow: [], deny: [] },
  forcedRunnerArgs: { podman: [], apptainer: [] },
  forcedMounts: [],
  serviceTimeoutSeconds: 180,
  servicePorts: { min: 20000, max: 60999 },
  summaryJson: false,
  jobsDir: 'tre-jobs',
  home: 'shared',
};
