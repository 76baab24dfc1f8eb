// Container image references, parsed the way Docker/Podman read them:
// [HOST[:PORT]/]PATH[:TAG][@sha256:DIGEST]. A first part without '.', ':' or
// 'localhost' is not a host: such references mean Docker Hub.

export interface ImageRef {
  /** Registry host as the user wrote it, e.g. `git.ecdf.ed.ac.uk` or `127.0.0.1:5000`. */
  host: string;
  /** Repository path below the host, e.g. `mikej888/hello-tre`. */
  path: string;
  /** Last path part, e.g. `hello-tre`: names the job, the SIF and the container. */
  name: string;
  /** Tag as written; absent when the reference has none (then `latest`, or the digest). */
  tag?: string;
  digest?: string;
}

const HOST = /^(?:[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]*[A-Za-z0-9])?)*|\[[0-9A-Fa-f:]+\])(?::[0-9]{1,5})?$/;
const PATH_COMPONENT = /^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$/;
const TAG = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}$/;
const DIGEST = /^sha256:[a-f0-9]{64}$/;

/** Parse an image reference; throws an Error whose message says what is wrong. */
export function parseImageRef(reference: string): ImageRef {
  if (reference !== reference.trim() || /\s/.test(reference)) throw new Error('must not contain spaces or newlines');
  let rest = reference.replace(/^docker:\/\//, '');
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at >= 0) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST.test(digest)) throw new Error(`digest "${digest}" is not sha256:<64 hex digits>`);
  }
  const parts = rest.split('/');
  const first = parts[0] ?? '';
  const hasHost = parts.length > 1 && (first.includes('.') || first.includes(':') || first === 'localhost');
  const host = hasHost ? first : 'docker.io';
  if (hasHost) parts.shift();
  if (!HOST.test(host)) throw new Error(`registry host "${host}" is not a valid host name`);
  let tag: string | undefined;
  const last = parts[parts.length - 1] ?? '';
  const colon = last.indexOf(':');
  if (colon >= 0) {
    tag = last.slice(colon + 1);
    parts[parts.length - 1] = last.slice(0, colon);
    if (!TAG.test(tag)) throw new Error(`tag "${tag}" is not a valid tag`);
  }
  for (const part of parts) {
    if (!PATH_COMPONENT.test(part)) throw new Error(`path part "${part}" is not valid (lower-case letters, digits, '.', '_', '-')`);
  }
  const name = parts[parts.length - 1] ?? '';
  return { host, path: parts.join('/'), name, ...(tag ? { tag } : {}), ...(digest ? { digest } : {}) };
}

/** The reference to pull, with the registry's pull host (e.g. GitLab's `:5050`). */
export function pullReference(image: ImageRef, pullHost: string): string {
  const tag = image.tag ? `:${image.tag}` : '';
  return `${pullHost}/${image.path}${image.digest ? `${tag}@${image.digest}` : tag || ':latest'}`;
}

/**
 * The digest-pinned reference without its tag (`HOST/PATH@sha256:...`), or undefined when the
 * image is not pinned. Apptainer refuses a reference with both a tag and a digest, and records
 * this form as the SIF's source, which is how a pulled or reused SIF is checked against the pin.
 */
export function pinnedReference(image: ImageRef, pullHost: string): string | undefined {
  return image.digest ? `${pullHost}/${image.path}@${image.digest}` : undefined;
}

/** `name:tag` as the service shows it: the Slurm job name and the SIF file's stem. */
export function displayName(image: ImageRef): string {
  if (image.tag) return `${image.name}:${image.tag}`;
  return image.digest ? `${image.name}@${image.digest.slice(7, 19)}` : `${image.name}:latest`;
}
