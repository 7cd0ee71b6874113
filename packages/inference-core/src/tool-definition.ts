/** A JSON Schema document, as a plain object. The core does not validate schemas. */
export type JsonSchema = Record<string, unknown>;

/** A function tool the model may call. */
export interface ToolDefinition {
  /** Tool name the model uses to call it (`[a-zA-Z0-9_-]`, provider limits apply). */
  name: string;
  /** What the tool does; shown to the model. */
  description?: string;
  /** JSON Schema of the arguments object. */
  parameters: JsonSchema;
  /** Ask the provider to enforce the schema exactly (OpenAI `strict`), where supported. */
  strict?: boolean;
}
