import type { FinishReason } from '@inferkit/inference-core';

/**
 * Anthropic `stop_reason` → unified reason. `pause_turn` (a server-tool loop paused; resend to
 * continue) ends this response normally, so it is `stop`; the raw value stays on
 * `rawFinishReason` for callers that continue the turn.
 */
export function mapAnthropicFinishReason(reason: string): FinishReason {
  switch (reason) {
    case 'end_turn':
    case 'stop_sequence':
    case 'pause_turn':
      return 'stop';
    case 'max_tokens':
    case 'model_context_window_exceeded':
      return 'length';
    case 'tool_use':
      return 'tool_calls';
    case 'refusal':
      return 'content_filter';
    default:
      return 'error';
  }
}
