/**
 * Whether and which tool the model must call.
 * - `'auto'`: the model decides; `'none'`: no tool calls; `'required'`: at least one tool call.
 * - `{ type: 'tool', name }`: exactly this tool.
 */
export type ToolChoice = 'auto' | 'none' | 'required' | { type: 'tool'; /** Tool to call. */ name: string };
