namespace MoeServe.Text.Chat;

/// <summary>The named templates the selector falls back to, one per model family. The texts are the families'
/// published templates (see tests/data/chat-templates/README.md for where each comes from).</summary>
public static class BuiltInChatTemplates
{
    /// <summary>Plain ChatML (&lt;|im_start|&gt;role ... &lt;|im_end|&gt;), no default system prompt: the qwen3_moe fallback.</summary>
    public const string ChatML =
        "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Qwen1.5/Qwen2's ChatML with the default system prompt "You are a helpful assistant.": the qwen2_moe fallback.</summary>
    public const string ChatMLQwen2 =
        "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n' }}{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    /// <summary>Mixtral-8x7B-Instruct-v0.1's [INST] template (user/assistant only, strictly alternating): the mixtral fallback.</summary>
    public const string MistralInst =
        "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}";

    /// <summary>The Tulu template (&lt;|user|&gt; / &lt;|assistant|&gt;) that OLMoE's instruct model uses, in the text
    /// published for OLMo 2: the olmoe fallback.</summary>
    public const string Tulu =
        "{{ bos_token }}{% for message in messages %}{% if message['role'] == 'system' %}{{ '<|system|>\n' + message['content'] + '\n' }}{% elif message['role'] == 'user' %}{{ '<|user|>\n' + message['content'] + '\n' }}{% elif message['role'] == 'assistant' %}{% if not loop.last %}{{ '<|assistant|>\n'  + message['content'] + eos_token + '\n' }}{% else %}{{ '<|assistant|>\n'  + message['content'] + eos_token }}{% endif %}{% endif %}{% if loop.last and add_generation_prompt %}{{ '<|assistant|>\n' }}{% endif %}{% endfor %}";

    /// <summary>MoeServe's own format ("User: ...\n\n" per message, "Assistant:" to answer), the Jinja twin of the
    /// manifest's simple ChatTemplate: the fallback for the project's own models.</summary>
    public const string MoeServeSimple =
        "{% set names = {'system': 'System', 'user': 'User', 'assistant': 'Assistant'} %}{% for message in messages %}{{ (names[message['role']] if message['role'] in names else message['role']) + ': ' + message['content'] + '\n\n' }}{% endfor %}{% if add_generation_prompt %}{{ 'Assistant:' }}{% endif %}";

    /// <summary>The built-in template name and text for a family (mixtral, qwen2_moe, qwen3_moe, olmoe, moeserve),
    /// or null for an unknown family.</summary>
    public static (string Name, string Text)? ForFamily(string family) => family switch
    {
        ChatTemplateFamilies.Mixtral => ("mistral-inst", MistralInst),
        ChatTemplateFamilies.Qwen2Moe => ("chatml-qwen2", ChatMLQwen2),
        ChatTemplateFamilies.Qwen3Moe => ("chatml", ChatML),
        ChatTemplateFamilies.Olmoe => ("tulu", Tulu),
        ChatTemplateFamilies.MoeServe => ("moeserve-simple", MoeServeSimple),
        _ => null,
    };
}

/// <summary>The family names the selector knows (the Hugging Face model_type of each, and MoeServe's own).</summary>
public static class ChatTemplateFamilies
{
    /// <summary>Mixtral (model_type "mixtral").</summary>
    public const string Mixtral = "mixtral";

    /// <summary>Qwen1.5-MoE / Qwen2-MoE (model_type "qwen2_moe").</summary>
    public const string Qwen2Moe = "qwen2_moe";

    /// <summary>Qwen3-MoE (model_type "qwen3_moe").</summary>
    public const string Qwen3Moe = "qwen3_moe";

    /// <summary>OLMoE (model_type "olmoe").</summary>
    public const string Olmoe = "olmoe";

    /// <summary>Models trained by MoeServe itself.</summary>
    public const string MoeServe = "moeserve";
}
