// The job spec: what a user (or an OOD form) asks for. Only the zod schema lives
// here; jobspec/load.ts reads, validates and normalizes it. Each field states its default.
import * as z from 'zod/mini';
import { described, matching, optional, wholeNumber, withDefault } from '../zod';

const noNul = (value: string) => !value.includes('\0');
const noNulCheck = () => z.refine<string>(noNul, { message: 'must not contain a NUL byte' });
const oneLineCheck = () => z.refine<string>((value) => !/[\r\n]/.test(value), { message: 'must not contain a newline' });
/** Free text that will reach bash (always through the quoting helpers). */
const text = z.string().check(noNulCheck());
const oneLineText = text.check(oneLineCheck());

export const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;
export const TIME = /^([0-9]{1,3}):([0-5][0-9]):([0-5][0-9])$/;
export const CONTAINER_NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,127}$/;
export const SLURM_WORD = /^[A-Za-z0-9._-]{1,64}$/;

const oneLineMatching = (pattern: RegExp, message: string) => matching(oneLineText, pattern, message);
/** YAML 1.2 reads yes/no/on/off as strings: say what is meant. */
const flag = () => z.boolean({ error: 'must be true or false' });

export const jobSpecSchema = described(
  z.strictObject({
    image: described(
      z
        .string({ error: (issue) => (issue.input === undefined ? 'is required, e.g. image: ghcr.io/mikej888/hello-tre:1.0' : 'must be text, e.g. ghcr.io/mikej888/hello-tre:1.0') })
        .check(noNulCheck(), oneLineCheck(), z.minLength(1, { message: 'must not be empty' })),
      'Image URL, e.g. ghcr.io/mikej888/hello-tre:1.0. Its registry must be allowed by the site. Required.',
    ),
    runtime: optional(z.enum(['podman', 'apptainer']), "Container runner. Default: the site's defaultRuntime."),
    registry: optional(
      z.strictObject({
        username: described(
          oneLineMatching(/^[A-Za-z0-9._@+-]{1,256}$/, 'must be letters, digits and . _ @ + - only'),
          'Registry username. The access token never goes in the spec: see --token-file.',
        ),
      }),
      'Registry login. Without it the image is pulled anonymously.',
    ),
    name: optional(
      oneLineMatching(CONTAINER_NAME, 'must start with a letter or digit and use only letters, digits, _ . - (at most 128)'),
      'Podman container name. Default: IMAGE_NAME-SESSION (SESSION = the Slurm job id, or the OOD session id).',
    ),
    cpus: optional(wholeNumber('CPUs', 2, 1, 4096), 'CPUs (sbatch --cpus-per-task). Default: the partition default.'),
    memoryGiB: optional(wholeNumber('GiB', 8, 1, 65536), 'Memory in GiB (sbatch --mem). Default: the partition default.'),
    time: optional(oneLineMatching(TIME, 'must be HH:MM:SS'), "Wall time limit HH:MM:SS. Default and maximum: the site's maxTime (06:00:00)."),
    partition: optional(
      oneLineMatching(SLURM_WORD, 'must be letters, digits and . _ - only'),
      "Slurm partition. Default: the site's partition, else Slurm's default.",
    ),
    gpu: withDefault(flag(), false, 'Ask for a GPU (only where the site has GPUs). Default: false.'),
    env: optional(
      z.union([z.record(z.string(), z.union([text, z.number(), z.boolean()])), z.array(text)], {
        error: 'must be a map (NAME: value) or a list of "NAME=value" strings (quote a line holding ": ")',
      }),
      'Environment variables: a map, or a list of NAME=value lines. Values may use ${VAR} or $VAR (expanded on the back-end); \\$ is a literal $. No other quoting is needed.',
    ),
    args: withDefault(z.array(text), [], 'Container arguments, one list item per argument; ${VAR} expands on the back-end.'),
    runnerArgs: withDefault(z.array(text), [], 'Extra podman run / apptainer run arguments, one item per argument.'),
    reuseSif: withDefault(flag(), false, 'Apptainer: reuse an existing $HOME/NAME:TAG.sif instead of pulling again. Default: false.'),
    safeData: withDefault(
      z.enum(['auto', 'required', 'none']),
      'auto',
      'auto: mount the safe data directory if one is found; required: fail if none is found; none: do not mount. Default: auto.',
    ),
    safeDataMount: withDefault(
      z.union([z.literal('same'), oneLineMatching(/^\/[^:,]*$/, "must be 'same' or an absolute path without ':' or ','")]),
      'same',
      "Where safe data appears in the container: 'same' (its back-end path, as the service does) or an absolute path such as /safe_data.",
    ),
    service: optional(
      z.enum(['jupyter', 'rstudio', 'http']),
      'Run an interactive web service instead of a batch job: the job picks a free port, makes a password, starts the container with the port as its first argument, waits for HTTP and writes connection.yml. Default: a batch job.',
    ),
    array: optional(
      z.strictObject({
        count: optional(wholeNumber('tasks', 10, 1, 100000), 'Run N tasks: TRE_TASK and TRE_ITEM are 0 to N-1.'),
        items: optional(
          z.array(text.check(oneLineCheck(), z.minLength(1, { message: 'must not be empty' }), z.maxLength(4096, { message: 'must be at most 4096 characters' }))),
          'One task per item, in order: the item is TRE_ITEM, its index (from 0) TRE_TASK.',
        ),
        itemsFile: optional(
          text.check(oneLineCheck(), z.minLength(1, { message: 'must not be empty' })),
          'A file of items, one per line (blank lines skipped), read when you submit; a relative path is relative to the spec file.',
        ),
        parallel: optional(wholeNumber('tasks', 4, 1, 100000), 'Most tasks running at once (sbatch --array=...%K). Default: as many as Slurm can run.'),
      }),
      'Run the container once per task of a Slurm job array: give one of count, items or itemsFile. ${TRE_TASK} and ${TRE_ITEM} expand in env and args and are set in the container. Each task writes to its own outputs-NUMBER/TASK. Batch jobs only. Default: one task.',
    ),
  }),
  'A tre-job container job spec (YAML or JSON). Unknown keys are errors.',
);

export type JobSpecInput = z.input<typeof jobSpecSchema>;
export type JobSpec = z.output<typeof jobSpecSchema>;
