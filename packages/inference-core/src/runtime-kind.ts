/**
 * Which engine family executes a request. Used for defaults (`isGilPinned`), metrics labels and
 * pricing look-ups. Open-ended families use a prefix: `python:<engine>` for engines reached
 * through the Python bridge (e.g. `python:transformers`), `custom:<name>` for third-party runners.
 */
export type RuntimeKind =
  | 'vllm'
  | 'tensorrt'
  | 'ort'
  | 'candle'
  | 'cuda'
  | 'mistralrs'
  | 'openai'
  | 'anthropic'
  | 'gemini'
  | 'litellm'
  | `python:${string}`
  | `custom:${string}`;
