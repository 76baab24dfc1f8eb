// Rootless Podman: `podman login` + `podman pull`, `podman run --rm` with --volume mounts and
// --env values; the container is named and recorded, so that clean-up and `gc` can remove it.
import { LEDGER } from '../contract';
import { spawnSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import type { RuntimeDriver } from './driver';
import { colonParts, mountOption } from './mount-syntax';
import { cliFacts } from './options';

const CONTAINER = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;

export const podman: RuntimeDriver = {
  name: 'podman',
  ...cliFacts('podman'),
  mountsOf(parsed, value) {
    const { option, field, written } = parsed;
    if (option.long === '--mount') return mountOption(parsed, ['bind', 'volume', 'tmpfs']);
    if (option.long === '--tmpfs') return [{ source: null, target: colonParts(value, 2, field, written)[0] as string }];
    if (option.long === '--volume') {
      const [first = '', second] = colonParts(value, 3, field, written);
      // One part: an anonymous volume at that container path.
      return second === undefined ? [{ source: null, target: first }] : [{ source: first, target: second }];
    }
    return [];
  },
  templateData: () => ({}),
  reclaim(kind, what, _home, site) {
    if (kind !== LEDGER.container || !CONTAINER.test(what)) return null;
    const exists = spawnSync(site.podman, ['container', 'exists', what]).status === 0;
    // Kill first: 'rm --force' of a container that is already stopping can leave its processes running.
    spawnSync(site.podman, ['kill', '--signal', 'KILL', what], { stdio: 'ignore' });
    spawnSync(site.podman, ['rm', '--force', '--time', '0', '--ignore', what], { stdio: 'ignore' });
    return exists ? `container ${what}` : null;
  },
  removeTree(path, site) {
    try {
      rmSync(path, { recursive: true, force: true });
    } catch {
      // Files a container wrote as another uid belong to a subordinate uid: remove them in the user namespace.
      spawnSync(site.podman, ['unshare', 'rm', '-rf', '--', path]);
    }
  },
};
