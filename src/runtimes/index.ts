// The runtime drivers by name (see driver.ts).
import { apptainer } from './apptainer';
import type { RuntimeDriver } from './driver';
import type { Runtime } from './options';
import { podman } from './podman';

export const DRIVERS: Readonly<Record<Runtime, RuntimeDriver>> = { podman, apptainer };

export function driverFor(runtime: Runtime): RuntimeDriver {
  return DRIVERS[runtime];
}

export type { RuntimeDriver } from './driver';
export type { Runtime } from './options';
