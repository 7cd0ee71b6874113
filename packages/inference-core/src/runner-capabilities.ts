/**
 * What a runner can do, told before a request is sent (`ModelRunner.capabilities()`). Every field
 * is a boolean; absent means `false`. The gateway uses it to refuse unsupported parameters with a
 * clear 400, the router to pick targets, and the conformance kit checks that a runner does what it
 * declares (and refuses with `bad_request` what it does not).
 */
export interface RunnerCapabilities {
  /** `ExecuteBatch.tools` / `toolChoice` are honoured and tool calls are streamed as `toolCallDelta`s. */
  tools?: boolean;
  /** `ExecuteBatch.responseFormat` (`json_object`, `json_schema`) is honoured. */
  responseFormat?: boolean;
  /** `image_base64` / `image_url` content parts are accepted. */
  images?: boolean;
  /**
   * A final `{ role: 'assistant', content, prefix: true }` message is continued (the output extends
   * that text) instead of answered.
   */
  continuation?: boolean;
  /** `SamplingParams.presencePenalty` / `frequencyPenalty` are applied. */
  penalties?: boolean;
  /** `SamplingParams.repetitionPenalty` (an extension of OpenAI's parameters) is applied. */
  repetitionPenalty?: boolean;
  /** Chunks carry `tokenIds`, and `ExecuteBatch.continuationTokenIds` is honoured. */
  tokenIds?: boolean;
}

/** Every capability name, in declaration order. */
export const RUNNER_CAPABILITY_NAMES = ['tools', 'responseFormat', 'images', 'continuation', 'penalties', 'repetitionPenalty', 'tokenIds'] as const;
