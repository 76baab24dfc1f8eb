// Site config: the operator's policy. Users cannot override it from a spec.
import { z } from 'zod';
import { TIME, SLURM_WORD } from '../spec/schema';

const absolutePath = z.string().regex(/^\/[^\0\n:,]*$/, { message: "must be an absolute path without ':' or ','" });
const command = z.string().regex(/^[A-Za-z0-9_./+-]+$/, { message: 'must be a command name or path (letters, digits, _ . / + -)' });

export const registrySchema = z.strictObject({
  host: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, { message: 'must be a registry host name, optionally with :PORT' })
    .describe('Host as users write it in image URLs.'),
  pullHost: z
    .string()
    .regex(/^[A-Za-z0-9.-]+(:[0-9]{1,5})?$/, { message: 'must be a registry host name, optionally with :PORT' })
    .optional()
    .describe('Host to pull from, when it differs (e.g. git.ecdf.ed.ac.uk:5050).'),
  insecure: z.boolean().default(false).describe('Plain HTTP, no TLS verification. Only allowed for loopback test registries.'),
});

export const siteSchema = z
  .strictObject({
    registries: z.array(registrySchema).min(1).describe('Registries images may come from.'),
    safeDataRoot: absolutePath.describe('Root of the project data directories. Default: /safe_data.'),
    projectGroupPrefix: z
      .string()
      .regex(/^[A-Za-z0-9_.]*$/, { message: 'must be letters, digits, _ and . only' })
      .describe("A user's project X is a group named X or PREFIX-X. Empty: any PREFIX. Default: empty."),
    defaultRuntime: z.enum(['podman', 'apptainer']).describe('Runtime when the spec names none. Default: podman.'),
    maxTime: z.string().regex(TIME, { message: 'must be HH:MM:SS' }).describe('Longest wall time a job may ask for, and the default. Default: 06:00:00.'),
    podman: command.describe('Podman command. Default: podman.'),
    apptainer: command.describe('Apptainer command. Default: apptainer.'),
    sbatch: command.describe('sbatch command. Default: sbatch.'),
    scontrol: command.describe('scontrol command. Default: scontrol.'),
    partition: z.string().regex(SLURM_WORD, { message: 'must be letters, digits and . _ - only' }).optional().describe('Default partition.'),
    signalGraceSeconds: z.int().min(10).max(3600).describe('Seconds before the time limit at which the job cleans up (sbatch --signal=B:USR1@N). Default: 60.'),
    gpuGres: z
      .string()
      .regex(/^[A-Za-z0-9:_.-]+$/, { message: 'must look like gpu:1' })
      .optional()
      .describe('sbatch --gres value for a GPU job, e.g. gpu:1. Unset: this site has no GPUs.'),
    runnerArgs: z
      .strictObject({
        mode: z.enum(['deny', 'allow']).describe('deny: any flag but the built-in privilege list and `deny`; allow: only the flags in `allow`.'),
        allow: z.array(z.string().regex(/^-{1,2}[A-Za-z0-9][A-Za-z0-9-]*$/, { message: 'must be a flag such as --workdir' })).default([]),
        deny: z.array(z.string().regex(/^-{1,2}[A-Za-z0-9][A-Za-z0-9-]*$/, { message: 'must be a flag such as --workdir' })).default([]),
      })
      .describe('What users may add as runner arguments. Default: mode deny, nothing extra denied.'),
    forcedRunnerArgs: z
      .strictObject({ podman: z.array(z.string()).default([]), apptainer: z.array(z.string()).default([]) })
      .describe('Flags the site adds after the user runner arguments, so the user cannot override them.'),
    forcedMounts: z
      .array(z.strictObject({ source: absolutePath, target: absolutePath, readOnly: z.boolean().default(true) }))
      .describe('Mounts the site adds to every container (read-only by default); users cannot mount over them.'),
    serviceTimeoutSeconds: z.int().min(5).max(3600).describe('How long an interactive service may take to answer HTTP before the job gives up. Default: 180.'),
    servicePorts: z
      .strictObject({ min: z.int().min(1024).max(65535), max: z.int().min(1024).max(65535) })
      .describe('Ports an interactive service may listen on. Default: 20000-60999.'),
    summaryJson: z.boolean().describe('End output.log with the summary as one JSON line too (tre-job-summary {...}), for job cards or monitoring. Default: false.'),
    jobsDir: z.string().regex(/^[^\0\n:,]+$/, { message: 'must be a path' }).describe('Where submit puts job directories; relative paths are under $HOME. Default: tre-jobs.'),
  })
  .describe('tre-job site configuration (YAML).');

export type Site = z.output<typeof siteSchema>;

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
  signalGraceSeconds: 60,
  runnerArgs: { mode: 'deny', allow: [], deny: [] },
  forcedRunnerArgs: { podman: [], apptainer: [] },
  forcedMounts: [],
  serviceTimeoutSeconds: 180,
  servicePorts: { min: 20000, max: 60999 },
  summaryJson: false,
  jobsDir: 'tre-jobs',
};
