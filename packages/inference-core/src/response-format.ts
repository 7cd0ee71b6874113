import type { JsonSchema } from './tool-definition.js';

/**
 * Shape of the model's text output.
 * - `text`: free text (the default).
 * - `json_object`: any valid JSON object.
 * - `json_schema`: JSON matching `schema`.
 */
export type ResponseFormat =
  | { type: 'text' }
  | { type: 'json_object' }
  | {
      type: 'json_schema';
      /** Schema name (required by some providers). */
      name: string;
      /** JSON Schema the output must match. */
      schema: JsonSchema;
      /** Ask the provider to enforce the schema exactly, where supported. */
      strict?: boolean;
      /** Optional description passed to the provider. */
      description?: string;
    };
