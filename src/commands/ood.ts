// The Open OnDemand hook: submit.yml.erb hands tre-job the form values (and the token on
// stdin); tre-job renders the same script `tre-job submit` would, into the session's staged
// directory, and tells OOD what to submit. No second copy of the logic lives in the app.
import { JOB_FILES, LOG, TOKEN_ENV } from '../contract';
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { stringify } from 'yaml';
import { remoteHostOf } from '../backend';
import { InputError } from '../errors';
import { jobFiles, makeJobDir, writeJobFiles } from '../jobdir';
import { APP_FIELDS, FIELDS, formError, formToSpec, maxHours, OodForm } from '../ood/form';
import { JobRecord, jobRecord, keepSpec, siteFileOf, writeJobRecord } from '../record';
import { parseSpec } from '../jobspec/load';
import { seconds } from '../jobspec/resolve';
import { prepare, PrepareOptions } from '../prepare';
import { loadSite } from '../site/load';
import type { Site } from '../site/schema';

export interface OodCommandOptions extends PrepareOptions {
  form?: string;
  formJson?: string;
  jobDir?: string;
  spec?: boolean;
  contract?: boolean;
}

/** What submit.yml.erb puts into OOD's `script:` keys, and where the job body is. */
export interface OodSubmission {
  jobName: string;
  wallTimeSeconds: number;
  /** sbatch options for `script.native` (resources and the pre-time-limit signal). */
  native: string[];
  /** The job body: run it with bash from the app's template/script.sh.erb. */
  script: string;
  jobDir: string;
  containerName: string | null;
}

/** The JSON type(s) of each key of the submission, for the Ruby helper's check of tre-job's answer. */
const SUBMISSION_TYPES: { [key in keyof OodSubmission]-?: ('string' | 'integer' | 'array' | 'null')[] } = {
  jobName: ['string'],
  wallTimeSeconds: ['integer'],
  native: ['array'],
  script: ['string'],
  jobDir: ['string'],
  containerName: ['string', 'null'],
};

/** The record's keys that name the job on OnDemand's job card: the first that is set. */
const CARD_NAME: (keyof JobRecord)[] = ['containerName', 'jobName'];

/**
 * What the OnDemand apps' Ruby helper (ood/lib/tre_job_ood.rb) needs to know of tre-job, from
 * the one place each fact is kept, for `tre-job ood --contract`. `logFinished` is a regex's
 * source without flags, the same in JavaScript and Ruby. With a site (`--contract --site FILE`,
 * one back-end's file), also that site's limits the form shows: `site.maxHours` bounds the
 * hours field (0: maxTime is under an hour, and the field does not apply).
 */
export function oodContract(site?: Site) {
  return {
    files: { script: JOB_FILES.oodScript, credentials: JOB_FILES.credentials, record: JOB_FILES.record, log: JOB_FILES.log, connection: JOB_FILES.connection },
    /** What `ood --job-dir` may have written, removed when its answer cannot be used. */
    removeOnBadAnswer: [JOB_FILES.credentials, JOB_FILES.oodScript, JOB_FILES.record, JOB_FILES.spec],
    cardName: CARD_NAME,
    logFinished: LOG.finished.source,
    /** An array task's first lines (the array card reads task 0's): its id A_T, and its outputs-NUMBER/T. */
    logStarted: LOG.started.source,
    logOutputs: LOG.outputs.source,
    /** The form values tre-job reads; of these, appFields are the app's to set, not the user's. */
    formFields: [...FIELDS],
    appFields: APP_FIELDS,
    answer: SUBMISSION_TYPES,
    tokenEnv: TOKEN_ENV,
    ...(site ? { site: { maxTime: site.maxTime, maxHours: maxHours(site.maxTime) } } : {}),
  };
}

/**
 * Options OOD sets itself through `script:` keys (job_name, wall_time, output_path). An array
 * keeps its --output (output-%a.log, a log per task): native options come after OnDemand's own
 * -o, and sbatch takes the last.
 */
const SET_BY_OOD = /^--(job-name|time|output)=/;
const SET_BY_OOD_FOR_ARRAYS = /^--(job-name|time)=/;

function readForm(options: OodCommandOptions): OodForm {
  if ((options.form === undefined) === (options.formJson === undefined)) {
    throw new InputError('--form', 'give the form values with exactly one of --form FILE or --form-json JSON');
  }
  let text: string;
  try {
    text = options.form !== undefined ? readFileSync(options.form, 'utf8') : (options.formJson as string);
  } catch (err) {
    throw new InputError('--form', `cannot read ${options.form}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    throw new InputError('--form', 'is not valid JSON');
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new InputError('--form', 'must be a JSON object of form values');
  return value as OodForm;
}

/** Run `step`, naming any bad-input error by the form field it came from. */
function inFormTerms<T>(form: OodForm, step: () => T): T {
  try {
    return step();
  } catch (err) {
    throw err instanceof InputError ? formError(err, form) : err;
  }
}

/**
 * With --contract: what the apps' Ruby helper reads (oodContract), as JSON; with --site too,
 * that site's limits. Otherwise the site is loaded once, for the form's hours and the job. Without --job-dir:
 * the plain sbatch script for these form values (or, with --spec, the equivalent spec for
 * `tre-job submit`). With --job-dir (OOD's staged root): write tre-job.sh, the credentials
 * file and the job record (job.json, without a job id: OnDemand runs sbatch) there, and print
 * the submission as JSON.
 */
export function oodCommand(options: OodCommandOptions): string {
  if (options.contract) {
    if (options.form !== undefined || options.formJson !== undefined || options.jobDir !== undefined || options.spec) {
      throw new InputError('--contract', 'takes no --form, --form-json, --job-dir or --spec');
    }
    return `${JSON.stringify(oodContract(options.site !== undefined ? loadSite(options.site) : undefined))}\n`;
  }
  const form = readForm(options);
  const site = loadSite(options.site);
  const spec = inFormTerms(form, () => parseSpec(formToSpec(form, site)));
  // The spec to run the form's job outside OnDemand (--spec, and the one kept for resubmit): without
  // the app's own lines, which are for OnDemand's proxy (the Jupyter app's base URL, and its XSRF
  // check turned off because the proxy's Connect button posts the password).
  const outside = () => stringify(parseSpec(formToSpec({ ...form, app_env_vars: '', app_container_args: '' }, site)), { lineWidth: 0 });
  // No line folding: yaml's folding can split a surrogate pair (an emoji, say) and corrupt the value.
  if (options.spec) return outside();
  if (options.jobDir === undefined) return inFormTerms(form, () => prepare(spec, options, undefined, false, site).script);
  const dir = resolve(options.jobDir);
  return inFormTerms(form, () => {
    const prepared = prepare(spec, options, dir, true, site);
    const files = jobFiles(makeJobDir(dir, false), JOB_FILES.oodScript);
    writeJobFiles(files, prepared);
    // The spec --spec prints is kept too, so that `tre-job resubmit` can run the session again.
    const kept = keepSpec(dir, { text: outside(), source: null, site: siteFileOf(options.site) });
    // A back-end with a home of its own gets its copy when OnDemand runs sbatch (tre-job sbatch).
    const record = jobRecord(prepared.job, { jobId: null, cluster: null, jobDir: dir, source: 'ood', host: remoteHostOf(site) }, options.session ?? 'JOBID', kept);
    writeJobRecord(record);
    const submission: OodSubmission = {
      jobName: prepared.job.jobName,
      wallTimeSeconds: seconds(prepared.job.time),
      native: prepared.directives.filter((option) => !(prepared.job.array ? SET_BY_OOD_FOR_ARRAYS : SET_BY_OOD).test(option)),
      script: files.script,
      jobDir: dir,
      containerName: record.containerName,
    };
    return `${JSON.stringify(submission)}\n`;
  });
}
