import { toJSONSchema } from 'zod/mini';
import { jobSpecSchema } from '../jobspec/schema';

/** The JSON Schema of the spec, generated from the zod schema (so the two cannot drift). */
export function schemaCommand(): string {
  return `${JSON.stringify(toJSONSchema(jobSpecSchema, { io: 'input', unrepresentable: 'any' }), null, 2)}\n`;
}
