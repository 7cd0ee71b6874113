/**
 * Chat templates with tool support, one per call format, written for these tests in the style of
 * the model families that teach each format (ChatML/Hermes as Qwen 2.5 does, Llama 3.1 JSON,
 * Mistral [TOOL_CALLS]). The tool tests put them into copies of models/inferkit-tiny.
 */
export const HERMES_TEMPLATE = [
  "{%- if tools %}",
  "{{- '<|im_start|>system\\n' }}",
  "{%- if messages[0].role == 'system' %}{{- messages[0].content + '\\n\\n' }}{%- endif %}",
  "{{- 'You may call tools. Their signatures are inside <tools></tools>:\\n<tools>' }}",
  "{%- for tool in tools %}{{- '\\n' + (tool | tojson) }}{%- endfor %}",
  "{{- '\\n</tools>\\n\\nTo call a tool, answer with its name and arguments inside <tool_call></tool_call> tags:\\n<tool_call>\\n{\"name\": <tool-name>, \"arguments\": <arguments-object>}\\n</tool_call><|im_end|>\\n' }}",
  "{%- elif messages[0].role == 'system' %}",
  "{{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}",
  "{%- endif %}",
  "{%- for message in messages %}",
  "{%- if message.role == 'user' or (message.role == 'assistant' and not message.tool_calls) %}",
  "{{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>\\n' }}",
  "{%- elif message.role == 'assistant' %}",
  "{{- '<|im_start|>assistant' }}",
  "{%- if message.content %}{{- '\\n' + message.content }}{%- endif %}",
  "{%- for call in message.tool_calls %}",
  "{{- '\\n<tool_call>\\n{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}\\n</tool_call>' }}",
  "{%- endfor %}",
  "{{- '<|im_end|>\\n' }}",
  "{%- elif message.role == 'tool' %}",
  "{{- '<|im_start|>user\\n<tool_response>\\n' + message.content + '\\n</tool_response><|im_end|>\\n' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|im_start|>assistant\\n' }}{%- endif %}",
].join('\n');

export const LLAMA3_TEMPLATE = [
  "{{- bos_token }}",
  "{%- if tools %}",
  "{{- '<|start_header_id|>system<|end_header_id|>\\n\\nTo call a function, reply with only a JSON object {\"name\": function name, \"parameters\": object of argument names and values}. Functions:\\n' }}",
  "{%- for tool in tools %}{{- (tool | tojson) + '\\n' }}{%- endfor %}",
  "{{- '<|eot_id|>' }}",
  "{%- endif %}",
  "{%- for message in messages %}",
  "{%- if message.role == 'assistant' and message.tool_calls %}",
  "{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}",
  "{%- for call in message.tool_calls %}{{- '{\"name\": \"' + call.function.name + '\", \"parameters\": ' + (call.function.arguments | tojson) + '}' }}{%- endfor %}",
  "{{- '<|eot_id|>' }}",
  "{%- elif message.role == 'tool' %}",
  "{{- '<|start_header_id|>ipython<|end_header_id|>\\n\\n' + message.content + '<|eot_id|>' }}",
  "{%- else %}",
  "{{- '<|start_header_id|>' + message.role + '<|end_header_id|>\\n\\n' + message.content + '<|eot_id|>' }}",
  "{%- endif %}",
  "{%- endfor %}",
  "{%- if add_generation_prompt %}{{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{%- endif %}",
].join('\n');

export const MISTRAL_TEMPLATE = [
  "{{- bos_token }}",
  "{%- for message in messages %}",
  "{%- if message.role == 'user' %}",
  "{%- if tools and loop.last %}{{- '[AVAILABLE_TOOLS] ' + (tools | tojson) + '[/AVAILABLE_TOOLS]' }}{%- endif %}",
  "{{- '[INST] ' + message.content + '[/INST]' }}",
  "{%- elif message.role == 'assistant' and message.tool_calls %}",
  "{{- '[TOOL_CALLS] [' }}",
  "{%- for call in message.tool_calls %}{{- '{\"name\": \"' + call.function.name + '\", \"arguments\": ' + (call.function.arguments | tojson) + '}' }}{%- if not loop.last %}{{- ', ' }}{%- endif %}{%- endfor %}",
  "{{- ']' + eos_token }}",
  "{%- elif message.role == 'assistant' %}",
  "{{- message.content + eos_token }}",
  "{%- elif message.role == 'tool' %}",
  "{{- '[TOOL_RESULTS] {\"content\": ' + (message.content | tojson) + ', \"call_id\": \"' + message.tool_call_id + '\"}[/TOOL_RESULTS]' }}",
  "{%- endif %}",
  "{%- endfor %}",
].join('\n');

/** Renders tools but calls them in a format of its own. */
export const UNKNOWN_FORMAT_TEMPLATE =
  "{%- if tools %}{{- 'FUNCTIONS: ' + (tools | tojson) + '\\n' }}{%- endif %}{%- for message in messages %}{{- message.role + ': ' + message.content + '\\n' }}{%- endfor %}{{- 'assistant: ' }}";
