// The job spec: what a user (or an OOD form) asks for. Only the zod schema lives
// here; spec/load.ts reads, validates and normalizes it. Each field states its default.
import { z } from 'zod';

const noNul = (value: string) => !value.includes('\0');
/** Free text that will reach bash (always through the quoting helpers). */
const text = z.string().refine(noNul, { message: 'must not contain a NUL byte' });
const oneLineText = text.refine((value) => !/[\r\n]/.test(value), { message: 'must not contain a newline' });

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const TIME = /^([0-9]{1,3}):([0-5][0-9]):([0-5][0-9])$/;
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const SLURM_WORD = /^[A-Za-z0-9._-]{1,64}$/;

export const jobSpecSchema = z
  .strictObject({
    image: oneLineText
      .min(1, { message: 'must not be empty' })
      .describe('Image URL, e.g. ghcr.io/mikej888/hello-tre:1.0. Its registry must be allowed by the site. Required.'),
    runtime: z
      .enum(['podman', 'apptainer'])
      .optional()
      .describe("Container runner. Default: the site's defaultRuntime."),
    registry: z
      .strictObject({
        username: oneLineText
          .regex(/^[A-Za-z0-9._@+-]{1,256}$/, { message: 'must be letters, digits and . _ @ + - only' })
          .describe('Registry username. The access token never goes in the spec: see --token-file.'),
      })
      .optional()
      .describe('Registry login. Without it the image is pulled anonymously.'),
    name: oneLineText
      .regex(CONTAINER_NAME, { message: 'must start with a letter or digit and use only letters, digits, _ . - (at most 128)' })
      .optional()
      .describe('Podman container name. Default: IMAGE_NAME-SESSION (SESSION = the Slurm job id, or the OOD session id).'),
    cpus: z.int().min(1).max(4096).optional().describe('CPUs (sbatch --cpus-per-task). Default: the partition default.'),
    memoryGiB: z.int().min(1).max(65536).optional().describe('Memory in GiB (sbatch --mem). Default: the partition default.'),
    time: oneLineText
      .regex(TIME, { message: 'must be HH:MM:SS' })
      .optional()
      .describe("Wall time limit HH:MM:SS. Default and maximum: the site's maxTime (06:00:00)."),
    partition: oneLineText
      .regex(SLURM_WORD, { message: 'must be letters, digits and . _ - only' })
      .optional()
      .describe("Slurm partition. Default: the site's partition, else Slurm's default."),
    gpu: z.boolean().default(false).describe('Ask for a GPU (only where the site has GPUs). Default: false.'),
    env: z
      .union([z.record(z.string(), z.union([text, z.number(), z.boolean()])), z.array(text)], {
        error: 'must be a map (NAME: value) or a list of "NAME=value" strings (quote a line holding ": ")',
      })
      .optional()
      .describe(
        'Environment variables: a map, or a list of NAME=value lines. Values may use ${VAR} or $VAR (expanded on the back-end); \\$ is a literal $. No other quoting is needed.',
      ),
    args: z.array(text).default([]).describe('Container arguments, one list item per argument; ${VAR} expands on the back-end.'),
    runnerArgs: z.array(text).default([]).describe('Extra podman run / apptainer run arguments, one item per argument.'),
    reuseSif: z.boolean().default(false).describe('Apptainer: reuse an existing $HOME/NAME:TAG.sif instead of pulling again. Default: false.'),
    safeData: z
      .enum(['auto', 'required', 'none'])
      .default('auto')
      .describe('auto: mount the safe data directory if one is found; required: fail if none is found; none: do not mount. Default: auto.'),
    safeDataMount: z
      .union([z.literal('same'), oneLineText.regex(/^\/[^:,]*$/, { message: "must be 'same' or an absolute path without ':' or ','" })])
      .default('same')
      .describe("Where safe data appears in the container: 'same' (its back-end path, as the service does) or an absolute path such as /safe_data."),
    service: z
      .enum(['jupyter', 'rstudio', 'http'])
      .optional()
      .describe(
        'Run an interactive web service instead of a batch job: the job picks a free port, makes a password, starts the container with the port as its first argument, waits for HTTP and writes connection.yml. Default: a batch job.',
      ),
  })
  .describe('A tre-job container job spec (YAML or JSON). Unknown keys are errors.');

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
